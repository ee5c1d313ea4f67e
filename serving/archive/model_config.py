"""model-config.yaml: the per-model TorchServe settings an archive carries."""

from typing import Any

import yaml

# Reasoned starting points; the load-test issue tunes them from measurement. One worker per model keeps eight
# models inside two cores; the batch size comes from the model's signature.json ("serving").
DEFAULTS: dict[str, Any] = {
    "minWorkers": 1,
    "maxWorkers": 1,
    "batchSize": 1,
    "maxBatchDelay": 5,
    "responseTimeout": 30,
    "startupTimeout": 120,
}


def render(serving: dict[str, Any], device_type: str, runtime: str = "torchscript",
           explanation: str | None = None) -> str:
    """The YAML text: defaults, then the signature's serving hints, then the device, the served runtime and
    (where the archive carries one) the explanation program's format, in the `handler` section beside
    torch_threads, where an operator reads what a worker runs."""
    if device_type not in ("cpu", "gpu"):
        raise ValueError(f"device type must be cpu or gpu, got {device_type!r}")
    config = dict(DEFAULTS)
    if "batch_size" in serving:
        config["batchSize"] = int(serving["batch_size"])
    if "max_batch_delay_ms" in serving:
        config["maxBatchDelay"] = int(serving["max_batch_delay_ms"])
    if "workers" in serving:
        config["minWorkers"] = config["maxWorkers"] = int(serving["workers"])
    if "response_timeout_s" in serving:
        config["responseTimeout"] = int(serving["response_timeout_s"])
    if "torch_threads" in serving:  # read by the handler (TorchServe hands it this file's `handler` section)
        threads = int(serving["torch_threads"])
        if threads < 1:
            raise ValueError(f"torch_threads must be at least 1, got {threads}")
        config["handler"] = {"torch_threads": threads}
    config.setdefault("handler", {})["runtime"] = runtime
    if explanation is not None:
        config["handler"]["explanation"] = explanation
    config["deviceType"] = device_type
    return yaml.safe_dump(config, sort_keys=True)
