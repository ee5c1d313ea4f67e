"""Render TorchServe's `config.properties` from the settings, locked down the same way on every machine.

Security choices, each a lesson from TorchServe's history (ShellTorch, CVE-2023-43654):
token authorization stays on; the model-management API is off, so nobody can register or delete a model
over HTTP (reads still work), unless TS_MODEL_API turns it on for the gateway's admin API (token still required,
the management port still private); and `allowed_urls` admits only `.mar` files directly inside this model store,
never an http(s) URL, for the workflow API that `enable_model_api` does not cover.
"""

from __future__ import annotations

import re
from pathlib import Path

from serving.modelserver.settings import ModelServerSettings, http_url


def allowed_url_pattern(model_store: Path) -> str:
    """A Java regex matching `file://<model store>/<name>.mar` and nothing else.

    `[^/]+` forbids sub-directories and `..` segments. Python's `re.escape` only puts backslashes before
    non-alphanumeric characters, which Java's regex syntax reads as literals too; a comma is written `\\x2c`
    because TorchServe splits `allowed_urls` on commas before compiling each part.
    """
    store = re.escape(str(model_store.resolve())).replace(",", r"\x2c")
    return f"file://{store}/[^/]+\\.mar"


def escape_value(text: str) -> str:
    """`text` as a java.util.Properties value: backslashes doubled, line breaks and non-ASCII as escapes."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
        elif not " " <= char <= "~":
            encoded = char.encode("utf-16-be")  # characters beyond the BMP become a surrogate pair
            out.extend(f"\\u{int.from_bytes(encoded[i:i + 2], 'big'):04x}" for i in range(0, len(encoded), 2))
        else:
            out.append(char)
    return "".join(out)


def render(settings: ModelServerSettings) -> str:
    """The text of config.properties for `settings` (paths made absolute against the current directory)."""
    host, private = settings.ts_bind_host, settings.private_host
    store = settings.ts_model_store.expanduser().resolve()
    values: dict[str, str | int | float] = {
        "inference_address": http_url(host, settings.ts_inference_port),
        "management_address": http_url(private, settings.ts_management_port),
        "metrics_address": http_url(host, settings.ts_metrics_port),
        "grpc_inference_address": private,
        "grpc_inference_port": settings.ts_grpc_inference_port,
        "grpc_management_address": private,
        "grpc_management_port": settings.ts_grpc_management_port,
        "metrics_mode": "prometheus",
        # Written out although "false" is TorchServe's default, so that nobody reads its absence as an oversight.
        "disable_token_authorization": "false" if settings.ts_token_auth else "true",
        "token_expiration_min": f"{settings.ts_token_expiration_min:g}",
        "enable_model_api": "true" if settings.ts_model_api else "false",
        "allowed_urls": allowed_url_pattern(store),
        "model_store": str(store),
        "load_models": settings.ts_models,
        "max_request_size": settings.ts_max_request_size,
        "max_response_size": settings.ts_max_response_size,
        "default_response_timeout": settings.ts_default_response_timeout,
        # Archives never pip-install anything at load time: the environment is built once, from pyproject.toml.
        "install_py_dep_per_model": "false",
        "disable_system_metrics": "false",
        # Metrics the handlers emit (BatchSize) become Prometheus series without a metrics.yaml of our own.
        "model_metrics_auto_detect": "true",
        # TS_* variables belong to this runtime's settings; TorchServe must not reinterpret them.
        "enable_envvars_config": "false",
        "number_of_netty_threads": settings.ts_number_of_netty_threads,
        "job_queue_size": settings.ts_job_queue_size,
    }
    if settings.ts_jvm_options.strip():
        values["vmargs"] = " ".join(settings.ts_jvm_options.split())
    lines = ["# Rendered by serving.modelserver from ModelServerSettings; rewritten at every start."]
    lines += [f"{key}={escape_value(str(value))}" for key, value in values.items()]
    return "\n".join(lines) + "\n"
