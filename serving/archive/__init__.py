"""Packing artifact folders into TorchServe .mar archives (see builder.py; `python -m serving.archive`)."""
