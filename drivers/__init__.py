"""Real hardware drivers, installed as ``physres.drivers`` (one folder a family)."""
