"""Multi-electrode array rigs: one module a vendor, each a Device over the MEA interface
(:mod:`physres.mea`): ``cl1`` (Cortical Labs' ``cl`` API), ``openephys``.

Modules are imported by the registry when their kind is used, so a vendor's
SDK is only needed by the lab that has its rig.
"""

__all__: list[str] = []  # each vendor module exports its own driver
