"""The gateway's typed settings, from the environment and `.env`; unsafe values are refused outside the local
profile. Fields are named like their environment variables (GATEWAY_PORT → gateway_port)."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from serving.gateway.core.http1 import Origin
from serving.gateway.core.upstream_map import parse_version_urls
from serving.modelserver.settings import is_loopback

MIB = 1024 * 1024
TRACE_EXPORTERS = ("otlp", "console")  # OTEL_TRACES_EXPORTER's values the gateway has an exporter for


class GatewaySettings(BaseSettings):
    """How the gateway listens, whom it lets in, and how it protects TorchServe behind it."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    gateway_profile: Literal["local", "production"] = "local"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    # The Open Inference Protocol over gRPC, on the same host (8001 as in Triton); 0 turns it off.
    gateway_grpc_port: int = Field(default=8001, ge=0, le=65535)
    # API keys: comma-separated here and/or one per line in a file (a mounted Kubernetes Secret).
    gateway_api_keys: SecretStr = SecretStr("")
    gateway_api_keys_file: Path | None = None
    # Health and metrics answer without a key, as probes and Prometheus expect; set false to guard them too.
    gateway_open_health: bool = True
    # The largest legitimate request is one encoded image or a batch of feature rows.
    gateway_max_body_bytes: int = Field(default=8 * MIB, gt=0)
    gateway_upstream_timeout_s: float = Field(default=30.0, gt=0)
    # Requests in flight beyond this get 429 at once instead of queueing without bound.
    gateway_max_concurrency: int = Field(default=128, gt=0)
    # Coalescing (serving/gateway/core/batching.py): requests for a model that queue behind `in_flight` calls to
    # TorchServe go together in one envelope of at most `items` requests and `bytes` bytes; items 1 turns it off.
    gateway_batch_max_items: int = Field(default=32, ge=1, le=1024)
    gateway_batch_max_in_flight: int = Field(default=2, ge=1)
    # Below TorchServe's 10 MiB request limit (TS_MAX_REQUEST_SIZE), with room for the framing.
    gateway_batch_max_bytes: int = Field(default=4 * MIB, gt=0)
    # Streaming generation (docs/streaming.md): streams open at once beyond `max_streams` get 429 at once; a stream
    # whose next chunk is not made, or not taken by its reader, within `idle_timeout_s` ends. The first chunk is
    # small (time to first token); later ones are `chunk_tokens` for a stream alone (each chunk is a call to
    # TorchServe: 256, a model's cap, makes the rest in one) and `shared_chunk_tokens` while other streams are open
    # (their steps share one call, and a new stream's first chunk may wait behind it).
    gateway_stream_max_streams: int = Field(default=64, ge=1)
    gateway_stream_idle_timeout_s: float = Field(default=10.0, gt=0)
    gateway_stream_first_tokens: int = Field(default=4, ge=1)
    gateway_stream_chunk_tokens: int = Field(default=256, ge=1)
    gateway_stream_shared_chunk_tokens: int = Field(default=64, ge=1)
    gateway_model_store: Path = Path("model_store")
    # TorchServe's inference API when it runs in another container (Kubernetes: its Service, e.g.
    # http://model-server:8080). Then, unless the next two settings say otherwise, no TorchServe token is sent and
    # readiness comes from its /ping: the key file and the management API stay inside the model server's pod
    # (docs/deploy.md). Unset: the local TorchServe that the TS_* settings describe, with its keys and management API.
    gateway_torchserve_url: str | None = None
    # That TorchServe's management API, for the admin API (docs/gateway.md "Admin API"), with its token: TorchServe
    # checks one on a management API beyond loopback, so GATEWAY_TORCHSERVE_KEY_FILE is then required. Unset: the
    # admin actions that change TorchServe answer 503, saying so.
    gateway_torchserve_management_url: str | None = None
    # TorchServe's key_file.json (its TS_HOME's, shared read-only: a compose volume), for its inference and
    # management keys; read again when TorchServe, restarted, refuses the old ones. Unset: no token is sent.
    gateway_torchserve_key_file: Path | None = None
    # Versions served by a model server of their own (plain Kubernetes: the canary Deployment's Service), as
    # `name/version=URL,…`; every other version goes to GATEWAY_TORCHSERVE_URL (serving/gateway/core/upstream_map.py).
    gateway_torchserve_version_urls: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    gateway_log_level: str = "INFO"
    # The admin API (/admin/v1, docs/gateway.md): off unless admin keys are set, and they are never API keys.
    gateway_admin_keys: SecretStr = SecretStr("")
    gateway_admin_keys_file: Path | None = None
    # The traffic policy file (a ConfigMap in Kubernetes), polled for changes; unset: every model's newest version.
    gateway_policy_file: Path | None = None
    gateway_policy_poll_s: float = Field(default=2.0, gt=0)
    # While a model has no live worker its requests wait at most this long, then get 503 with Retry-After ...
    gateway_outage_budget_s: float = Field(default=2.0, gt=0)
    # ... and at most this many wait; the next ones get 503 at once.
    gateway_outage_max_held: int = Field(default=64, ge=0)
    # Shadow copies running at once; beyond it a copy is skipped (the candidate never costs the clients more).
    gateway_shadow_max_in_flight: int = Field(default=8, ge=1)
    # How long an unregistered version may take to answer its last requests before it is removed anyway.
    gateway_drain_timeout_s: float = Field(default=30.0, gt=0)
    # OpenTelemetry traces (serving/gateway/observability/tracing.py), off by default: on when OTEL_TRACES_EXPORTER
    # names an exporter, or when OTEL_SDK_DISABLED=false is set (then the spec's default exporter, otlp). Only the
    # decision is read here; the SDK reads its other OTEL_* variables (endpoint, sampler, ...) from the environment.
    otel_sdk_disabled: bool | None = None
    otel_traces_exporter: str | None = None
    otel_exporter_otlp_protocol: str | None = None
    otel_exporter_otlp_traces_protocol: str | None = None

    def api_keys(self) -> tuple[str, ...]:
        """Every accepted key (blank lines and surrounding spaces ignored)."""
        keys = [k.strip() for k in self.gateway_api_keys.get_secret_value().split(",")]
        if self.gateway_api_keys_file is not None:
            keys += [line.strip() for line in self.gateway_api_keys_file.read_text(encoding="utf-8").splitlines()]
        return tuple(k for k in keys if k)

    def admin_keys(self) -> tuple[str, ...]:
        """Every accepted admin key; none: the admin API is off."""
        keys = [k.strip() for k in self.gateway_admin_keys.get_secret_value().split(",")]
        if self.gateway_admin_keys_file is not None:
            keys += [line.strip() for line in self.gateway_admin_keys_file.read_text(encoding="utf-8").splitlines()]
        return tuple(k for k in keys if k)

    @field_validator("gateway_torchserve_version_urls", mode="before")
    @classmethod
    def _version_urls(cls, value: object) -> object:
        return parse_version_urls(value) if isinstance(value, str) else value

    def trace_exporters(self) -> tuple[str, ...]:
        """The span exporters to run ("otlp", "console"); none: tracing is off. OTEL_SDK_DISABLED=true wins."""
        if self.otel_sdk_disabled:
            return ()
        if self.otel_traces_exporter is None:
            return ("otlp",) if self.otel_sdk_disabled is False else ()
        names = (name.strip().lower() for name in self.otel_traces_exporter.split(","))
        return tuple(dict.fromkeys(name for name in names if name and name != "none"))

    def _check_tracing(self) -> None:
        unknown = sorted(set(self.trace_exporters()) - set(TRACE_EXPORTERS))
        if unknown:
            raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {unknown[0]!r}; the gateway has "
                             f"{', '.join(TRACE_EXPORTERS)} (or none)")
        protocol = self.otel_exporter_otlp_traces_protocol or self.otel_exporter_otlp_protocol
        if "otlp" in self.trace_exporters() and protocol not in (None, "http/protobuf"):
            raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL: the gateway exports OTLP as http/protobuf (port 4318), "
                             f"not {str(protocol)[:40]!r}")

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Self:
        self._check_tracing()
        self._check_remote_torchserve()
        if self.gateway_grpc_port == self.gateway_port:
            raise ValueError(f"GATEWAY_GRPC_PORT must differ from GATEWAY_PORT ({self.gateway_port}); 0 turns gRPC off")
        if self.gateway_api_keys_file is not None and not self.gateway_api_keys_file.is_file():
            raise ValueError(f"GATEWAY_API_KEYS_FILE {self.gateway_api_keys_file} does not exist")
        if self.gateway_admin_keys_file is not None and not self.gateway_admin_keys_file.is_file():
            raise ValueError(f"GATEWAY_ADMIN_KEYS_FILE {self.gateway_admin_keys_file} does not exist")
        if set(self.admin_keys()) & set(self.api_keys()):
            raise ValueError("an admin key must not also be an API key: give the admin API keys of its own")
        if self.gateway_profile == "production" and any(len(k) < 16 for k in self.admin_keys()):
            raise ValueError("admin keys must be at least 16 characters in the production profile")
        if self.gateway_profile == "local":
            if not is_loopback(self.gateway_host):
                raise ValueError("the local profile binds to loopback only; set GATEWAY_PROFILE=production "
                                 "(with API keys) to listen on other addresses")
        elif not self.api_keys():
            raise ValueError("the production profile needs API keys: set GATEWAY_API_KEYS or GATEWAY_API_KEYS_FILE")
        elif any(len(k) < 16 for k in self.api_keys()):
            raise ValueError("API keys must be at least 16 characters in the production profile")
        return self

    def _check_remote_torchserve(self) -> None:
        for name, url in (("GATEWAY_TORCHSERVE_URL", self.gateway_torchserve_url),
                          ("GATEWAY_TORCHSERVE_MANAGEMENT_URL", self.gateway_torchserve_management_url)):
            if url is not None:
                try:
                    Origin.parse(url)  # what the client will connect to
                except ValueError:
                    raise ValueError(f"{name} must be an http(s) URL with a host, got {url!r}") from None
        remote = {"GATEWAY_TORCHSERVE_MANAGEMENT_URL": self.gateway_torchserve_management_url,
                  "GATEWAY_TORCHSERVE_KEY_FILE": self.gateway_torchserve_key_file,
                  "GATEWAY_TORCHSERVE_VERSION_URLS": self.gateway_torchserve_version_urls or None}
        given = [name for name, value in remote.items() if value is not None]
        if given and self.gateway_torchserve_url is None:
            raise ValueError(f"{given[0]} goes with GATEWAY_TORCHSERVE_URL (a model server in another container); "
                             "the local TorchServe is reached with the TS_* settings")
        if self.gateway_torchserve_management_url is not None and self.gateway_torchserve_key_file is None:
            raise ValueError("GATEWAY_TORCHSERVE_MANAGEMENT_URL needs GATEWAY_TORCHSERVE_KEY_FILE: a management API "
                             "beyond loopback must check TorchServe's management key")
        if self.gateway_torchserve_version_urls and (self.gateway_torchserve_management_url is not None
                                                     or self.gateway_torchserve_key_file is not None):
            raise ValueError("GATEWAY_TORCHSERVE_VERSION_URLS reaches model servers of their own, without a token and "
                             "without the admin API (their Deployments change them): it cannot be combined with "
                             "GATEWAY_TORCHSERVE_MANAGEMENT_URL or GATEWAY_TORCHSERVE_KEY_FILE")


@lru_cache
def get_settings() -> GatewaySettings:
    """The process's settings (a FastAPI dependency; tests override it)."""
    return GatewaySettings()
