"""Real hardware drivers, installed as ``physres.drivers`` (one folder a family)."""

__all__: list[str] = []  # each family's subpackage exports its own driver
