"""Model versions: what one may look like, and their order ("1.10" after "1.9"). A version appears in TorchServe's
`/predictions/{name}/{version}` path, in an archive's file name and in metric labels, so it is kept plain."""

import re

VERSION = re.compile(r"[0-9A-Za-z]{1,16}(\.[0-9A-Za-z]{1,16}){0,3}")


def is_valid(version: str) -> bool:
    """Dot-separated groups of letters and digits, at most four groups of 16."""
    return VERSION.fullmatch(version) is not None


def version_key(version: str) -> tuple[tuple[int, str], ...]:
    """The sort key: numeric parts as numbers, others as text after every number."""
    return tuple((int(part), "") if part.isdigit() else (1 << 30, part) for part in version.split("."))
