"""An emulated Open Ephys GUI (ZMQ Interface plugin + HTTP control API) and test signals."""
