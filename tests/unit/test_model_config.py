"""model-config.yaml: the archive's TorchServe settings from the defaults and the serving hints."""

from __future__ import annotations

import pytest
import yaml

from serving.archive import model_config


def test_serving_hints_override_the_defaults() -> None:
    config = yaml.safe_load(model_config.render({"batch_size": 16, "max_batch_delay_ms": 0, "workers": 2}, "gpu"))
    assert config == {**model_config.DEFAULTS, "batchSize": 16, "maxBatchDelay": 0, "minWorkers": 2,
                      "maxWorkers": 2, "deviceType": "gpu", "handler": {"runtime": "torchscript"}}


def test_no_hints_keep_the_defaults() -> None:
    assert yaml.safe_load(model_config.render({}, "cpu")) == {**model_config.DEFAULTS, "deviceType": "cpu",
                                                              "handler": {"runtime": "torchscript"}}


def test_an_unknown_device_is_refused() -> None:
    with pytest.raises(ValueError, match="device type must be cpu or gpu"):
        model_config.render({}, "tpu")


def test_torch_threads_go_to_the_handler_section() -> None:
    config = yaml.safe_load(model_config.render({"torch_threads": 2}, "cpu", "onnx"))
    assert config["handler"] == {"torch_threads": 2, "runtime": "onnx"}


def test_an_explanation_program_is_named_beside_the_runtime() -> None:
    config = yaml.safe_load(model_config.render({"torch_threads": 1}, "cpu", "onnx", "torch.export"))
    assert config["handler"] == {"torch_threads": 1, "runtime": "onnx", "explanation": "torch.export"}


def test_fewer_than_one_torch_thread_is_refused() -> None:
    with pytest.raises(ValueError, match="torch_threads must be at least 1, got 0"):
        model_config.render({"torch_threads": 0}, "cpu")
