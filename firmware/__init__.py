"""physres firmware sources (C, Makefile, one ``firmware.toml`` per board).

Not Python: this file only makes the folder the ``physres.firmware`` package so
the sources install as package data and a wheel can build them, as a source
checkout can (:mod:`physres.wire.firmware_runner`).
"""
