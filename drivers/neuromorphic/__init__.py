"""``drivers.neuromorphic``: a DYNAP-SE-class spiking chip behind the bridge board.

The bridge firmware (``firmware/neuro_bridge``, protocol in ``firmware/PROTOCOL.md``)
carries address events and the chip's configuration over the framed serial link
of :mod:`physres.wire`; :mod:`~physres.drivers.neuromorphic.protocol` holds its
message set, :mod:`~physres.drivers.neuromorphic.firmware` runs the firmware
behind a pty.
"""

__all__: list[str] = []
