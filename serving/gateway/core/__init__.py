"""The inference core, free of any protocol: the data plane (dataplane.py) over the model catalog, the model
kinds (kinds/), the key check and admission limit, request coalescing and the client of TorchServe."""
