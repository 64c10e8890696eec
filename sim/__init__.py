"""Simulators, installed as ``physres.sim``: a pure step inside a Device shell."""

__all__: list[str] = []  # each simulator's module or subpackage exports its own names
