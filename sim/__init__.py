"""Simulators, installed as ``physres.sim``: a pure step inside a Device shell."""
