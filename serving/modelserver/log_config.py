"""TorchServe's log4j2 configuration, rendered into its home at every start and passed with `--log-config`.

TorchServe's built-in one logs its frontend at DEBUG, and, through the root logger as well, writes each of
those lines twice to ts_log.log and once more to the console: about 16 lines per call, and an access line and
a worker line per request besides. That writing was a large share of the JVM's CPU per request (docs/
benchmarks.md, "TorchServe's logs"). Here the frontend logs its warnings and errors once; the workers' output
is kept whole (a handler's traceback reaches model_log.log through the worker's stdout, at INFO), except the
line TorchServe's worker prints for every request; the access log is off unless asked for (the gateway's own
access log has every request); metrics are Prometheus's, never log lines."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from serving.modelserver.settings import ModelServerSettings

PER_REQUEST_WORKER_LINE = "Backend received inference at"  # ts/protocol/otf_message_handler.py, every request
_PATTERN = "%d{ISO8601} [%-5p] %t %c - %m%n"


def _rolling(name: str, pattern: str = _PATTERN, filters: str = "") -> str:
    return (f'    <RollingFile name="{name}" fileName="${{env:LOG_LOCATION:-logs}}/{name}.log" '
            f'filePattern="${{env:LOG_LOCATION:-logs}}/{name}.%d{{dd-MMM}}.log.gz">\n'
            f"      <PatternLayout pattern={quoteattr(pattern)}/>{filters}\n"
            '      <Policies><SizeBasedTriggeringPolicy size="100 MB"/><TimeBasedTriggeringPolicy/></Policies>\n'
            '      <DefaultRolloverStrategy max="5"/>\n'
            "    </RollingFile>")


def render(settings: ModelServerSettings) -> str:
    """The log4j2.xml for `settings` (its ACCESS_LOG on or off)."""
    skip = (f'\n      <StringMatchFilter text={quoteattr(PER_REQUEST_WORKER_LINE)} onMatch="DENY" '
            'onMismatch="NEUTRAL"/>')
    access = "info" if settings.ts_access_log else "off"
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!-- Rendered by serving.modelserver (log_config.py); rewritten at every start. -->",
        "<Configuration>",
        "  <Appenders>",
        '    <Console name="STDOUT" target="SYSTEM_OUT">',
        f"      <PatternLayout pattern={quoteattr(_PATTERN)}/>",
        "    </Console>",
        _rolling("ts_log"),
        _rolling("model_log", filters=skip),
        _rolling("access_log", "%d{ISO8601} - %m%n"),
        "  </Appenders>",
        "  <Loggers>",
        f'    <Logger name="ACCESS_LOG" level="{access}" additivity="false"><AppenderRef ref="access_log"/></Logger>',
        '    <Logger name="MODEL_LOG" level="info" additivity="false"><AppenderRef ref="model_log"/></Logger>',
        '    <Logger name="MODEL_METRICS" level="off"/>',
        '    <Logger name="TS_METRICS" level="off"/>',
        '    <Logger name="io.netty" level="error"/>',
        '    <Logger name="org.apache" level="off"/>',
        '    <Logger name="org.pytorch.serve" level="warn" additivity="false"><AppenderRef ref="ts_log"/></Logger>',
        '    <Root level="warn"><AppenderRef ref="STDOUT"/><AppenderRef ref="ts_log"/></Root>',
        "  </Loggers>",
        "</Configuration>",
        "",
    ])
