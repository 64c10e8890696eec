"""An emulated Open Ephys GUI (ZMQ Interface plugin + HTTP control API) and test signals."""

__all__: list[str] = []  # modules export their own names
