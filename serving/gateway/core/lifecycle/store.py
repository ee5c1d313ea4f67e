"""Which archive the admin API may register: a file name directly inside the model store, nothing else.

Never a URL (ShellTorch, CVE-2023-43654, was an SSRF through exactly this parameter of TorchServe's management
API), never a path: the name is checked as text first, then resolved and required to sit in the store itself."""

import re
from pathlib import Path

from serving.gateway.core.errors import InvalidInput

ARCHIVE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\.mar")


def archive_in_store(store: Path, name: str) -> Path:
    """The archive's path in the store; InvalidInput (400) for a URL, a path, or a name the store lacks."""
    shown = name[:80]
    if "://" in name or name.lower().startswith(("http:", "https:", "file:", "s3:", "ftp:")):
        raise InvalidInput(f"archive {shown!r} is a URL; only archives already in the model store can be "
                           "registered, by file name")
    if "/" in name or "\\" in name or name in (".", "..") or not ARCHIVE_NAME.fullmatch(name):
        raise InvalidInput(f"archive {shown!r} is not a file name in the model store (e.g. mlp_classifier-1.1.mar)")
    root = store.resolve()
    path = (root / name).resolve()
    if path.parent != root:  # a symlink in the store pointing elsewhere
        raise InvalidInput(f"archive {shown!r} is outside the model store")
    if not path.is_file():
        raise InvalidInput(f"archive {shown!r} is not in the model store", 404)
    return path
