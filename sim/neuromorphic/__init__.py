"""The neuromorphic chip emulator (``sim.neuromorphic``) and its place behind the bridge."""

__all__: list[str] = []
