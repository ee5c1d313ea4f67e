"""The REST gateway in front of TorchServe: v1 JSON and the Open Inference Protocol v2."""
