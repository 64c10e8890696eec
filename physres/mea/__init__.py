"""The MEA family's shared vocabulary (core: importable by physres.sim and physres.drivers)."""
