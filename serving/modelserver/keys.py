"""The API keys TorchServe generates at every start and writes to `<ts_home>/key_file.json` (mode 600).

Clients send `Authorization: Bearer <key>`: the inference key on the inference port (including `/ping`),
the management key on the management port. A missing or wrong key is answered with HTTP 400.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from serving.modelserver.errors import ModelServerError
from serving.modelserver.settings import ModelServerSettings

KEY_FILE = "key_file.json"


@dataclass(frozen=True)
class TokenKeys:
    """The inference and management keys of one running TorchServe."""

    inference: str
    management: str

    def inference_headers(self) -> dict[str, str]:
        """Headers for a request to the inference API (none when token authorization is off)."""
        return {"Authorization": f"Bearer {self.inference}"} if self.inference else {}

    def management_headers(self) -> dict[str, str]:
        """Headers for a request to the management API (none when token authorization is off)."""
        return {"Authorization": f"Bearer {self.management}"} if self.management else {}

    def __repr__(self) -> str:
        # Keys are secrets: keep them out of logs and tracebacks.
        return "TokenKeys(inference=***, management=***)"


def parse_keys(text: str) -> TokenKeys:
    """The keys in the text of a key file: `{"inference": {"key": ...}, "management": {"key": ...}, ...}`."""
    try:
        data = json.loads(text)
        inference, management = data["inference"]["key"], data["management"]["key"]
    except (ValueError, KeyError, TypeError) as error:
        raise ModelServerError(f"TorchServe's key file is malformed ({type(error).__name__}: {error})") from None
    if not (isinstance(inference, str) and inference and isinstance(management, str) and management):
        raise ModelServerError("TorchServe's key file holds an empty or non-string key")
    return TokenKeys(inference=inference, management=management)


# What a client sends to a TorchServe whose token authorization is off: no Authorization header at all.
NO_KEYS = TokenKeys(inference="", management="")


def server_keys(settings: ModelServerSettings) -> TokenKeys:
    """The keys to call the server of `settings` with: read from its key file, or NO_KEYS when tokens are off."""
    return read_keys(settings.ts_home) if settings.ts_token_auth else NO_KEYS


def read_keys(ts_home: Path) -> TokenKeys:
    """The keys of the TorchServe whose working directory is `ts_home`; ModelServerError when not readable."""
    return read_key_file(ts_home / KEY_FILE)


def read_key_file(path: Path) -> TokenKeys:
    """The keys in the key file at `path` (a local TorchServe's, or one mounted from another pod's);
    ModelServerError, saying why, when it is missing, unreadable, not UTF-8 or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelServerError(f"{path} does not exist: is TorchServe running?") from None
    except OSError as error:
        raise ModelServerError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ModelServerError(f"{path} is not UTF-8 text") from None
    return parse_keys(text)
