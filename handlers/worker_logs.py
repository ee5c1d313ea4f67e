"""What a TorchServe worker logs on every call, trimmed to the lines somebody reads.

TorchServe 0.12's Python worker writes each log record to its stdout, and a thread of the frontend's JVM reads
every line back, matches it against its patterns and parses the `[METRICS]` ones into Prometheus series. Per
call, the worker logs three lines: "Backend received inference at: <time>" (ts/protocol/otf_message_handler.py,
on the root logger), `[METRICS]PredictionTime` (ts/service.py, through ts.metrics) and the handlers' own
`[METRICS]BatchSize`. The first two are read by nobody: the frontend times each inference itself
(`ts_inference_latency_microseconds`), the gateway too, and the dashboards use neither. Each line costs the
worker its formatting and a write, and the JVM its reading and parsing: on a small model, a share of both
processes' CPU per call (docs/benchmarks.md, "Where a request's CPU goes", has the profile and the figures).

So every handler, as it initializes, drops those two lines where they are logged, before they are formatted,
and turns off the caller lookup that the logging module does for each record (the worker's format is
"%(message)s", which never shows it: the logging HOWTO's "Optimization" section). Everything else the worker
logs, BatchSize included, goes on as before. The frontend's log configuration also drops the first line
(serving/modelserver/log_config.py), for workers whose handler is not one of these.
"""

import logging

PER_CALL_LINES = {
    "": ("Backend received inference at",),  # the root logger: TorchServe calls logging.info(...)
    "ts.metrics.caching_metric": ("[METRICS]PredictionTime.", "[METRICS]HandlerTime."),
}


class DropLines(logging.Filter):
    """Drops the records whose (unformatted) message starts with one of `prefixes`."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        return not (isinstance(message, str) and message.startswith(self.prefixes))


def quiet_per_call_lines() -> None:
    """Installs the filters once per worker process (a second call changes nothing)."""
    logging._srcfile = None  # documented: skips findCaller for every record
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    for name, prefixes in PER_CALL_LINES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(existing, DropLines) for existing in logger.filters):
            logger.addFilter(DropLines(prefixes))
