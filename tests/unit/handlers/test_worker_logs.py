"""The worker's per-call lines that nobody reads are dropped where TorchServe logs them; the rest still goes out."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Iterator

import pytest
from ts.metrics.caching_metric import CachingMetric
from ts.metrics.metric_type_enum import MetricTypes
from ts.protocol import otf_message_handler

from handlers import worker_logs


class Lines(logging.Handler):
    """What a worker's stdout would get, one formatted message per record."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def worker_stdout() -> Iterator[list[str]]:
    """The root logger at INFO, as TorchServe's worker configures it, with no DropLines yet (a handler built by an
    earlier test installs them for the process); the logging module restored after."""
    root = logging.getLogger()
    saved = (root.level, logging._srcfile, logging.logThreads, logging.logProcesses,
             logging.logMultiprocessing)
    loggers = [logging.getLogger(name) for name in worker_logs.PER_CALL_LINES]
    filters = [list(logger.filters) for logger in loggers]
    for logger in loggers:
        logger.filters[:] = [f for f in logger.filters if not isinstance(f, worker_logs.DropLines)]
    capture = Lines()
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    yield capture.lines
    root.removeHandler(capture)
    root.setLevel(saved[0])
    (logging._srcfile, logging.logThreads, logging.logProcesses,
     logging.logMultiprocessing) = saved[1:]
    for logger, kept in zip(loggers, filters, strict=True):
        logger.filters[:] = kept


def emit_metric(name: str, unit: str) -> None:
    """A metric line as TorchServe's worker writes it (its metrics cache calls this per update)."""
    CachingMetric(name, unit, ["ModelName", "Level"], MetricTypes.GAUGE).add_or_update(
        1.5, ["mlp_classifier", "Model"], "request-1")


def test_without_the_filters_torchserve_writes_every_per_call_line(worker_stdout: list[str]) -> None:
    logging.info("Backend received inference at: %d", time.time())
    emit_metric("PredictionTime", "ms")
    emit_metric("BatchSize", "count")
    assert [line.split(":")[0] for line in worker_stdout] == [
        "Backend received inference at", "[METRICS]PredictionTime.Milliseconds", "[METRICS]BatchSize.Count"]


def test_the_unread_per_call_lines_are_dropped_and_the_rest_is_kept(worker_stdout: list[str]) -> None:
    worker_logs.quiet_per_call_lines()
    logging.info("Backend received inference at: %d", time.time())
    emit_metric("PredictionTime", "ms")
    emit_metric("HandlerTime", "ms")
    emit_metric("BatchSize", "count")
    logging.info("Frontend disconnected.")
    logging.getLogger("handlers.base").info("a handler's own line")
    assert [line.split(":")[0].split(",")[0] for line in worker_stdout] == [
        "[METRICS]BatchSize.Count", "Frontend disconnected.", "a handler's own line"]


def test_installing_twice_adds_no_second_filter(worker_stdout: list[str]) -> None:
    worker_logs.quiet_per_call_lines()
    worker_logs.quiet_per_call_lines()
    for name in worker_logs.PER_CALL_LINES:
        assert sum(isinstance(f, worker_logs.DropLines) for f in logging.getLogger(name).filters) == 1


def test_torchserve_still_logs_the_lines_the_filters_name() -> None:
    """TorchServe is archived at 0.12.0, but a filter that matches nothing would fail silently: pin the sources."""
    assert 'logging.info("Backend received inference at: %d"' in inspect.getsource(otf_message_handler)
    from ts import service
    assert service.PREDICTION_METRIC == "PredictionTime"
