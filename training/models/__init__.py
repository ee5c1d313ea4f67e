"""Architectures of the curriculum. Every module here is TorchScript-scriptable."""
