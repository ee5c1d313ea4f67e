"""TorchServe's rendered log4j2.xml: the frontend's warnings once, the workers' output without the per-request
line, the access log only when asked for."""

import xml.etree.ElementTree as ElementTree

from serving.modelserver import ModelServerSettings
from serving.modelserver.log_config import PER_REQUEST_WORKER_LINE, render


def loggers(settings: ModelServerSettings) -> dict[str, dict[str, str]]:
    root = ElementTree.fromstring(render(settings))
    return {logger.get("name", ""): dict(logger.attrib) for logger in root.iter("Logger")}


def test_the_frontend_logs_warnings_once_and_the_access_log_is_off_by_default() -> None:
    configured = loggers(ModelServerSettings())
    assert configured["org.pytorch.serve"] == {"name": "org.pytorch.serve", "level": "warn", "additivity": "false"}
    assert configured["ACCESS_LOG"]["level"] == "off"
    assert configured["MODEL_LOG"]["level"] == "info"  # a handler's traceback arrives on the worker's stdout


def test_the_access_log_is_on_when_asked_for() -> None:
    assert loggers(ModelServerSettings(ts_access_log=True))["ACCESS_LOG"]["level"] == "info"


def test_only_the_model_log_drops_the_workers_per_request_line() -> None:
    root = ElementTree.fromstring(render(ModelServerSettings()))
    filtered = {appender.get("name"): [f.get("text") for f in appender.iter("StringMatchFilter")]
                for appender in root.iter("RollingFile")}
    assert filtered == {"ts_log": [], "model_log": [PER_REQUEST_WORKER_LINE], "access_log": []}
