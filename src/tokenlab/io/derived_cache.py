"""A disk cache for what tokenlab derives from a tokenizer file and would otherwise recompute on every load.

Keyed by the file's SHA-256 and a format tag, written atomically, and only ever an optimisation: an unwritable
or corrupt cache is ignored and the value is computed again.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$TOKENLAB_CACHE_DIR`` or ``~/.cache/tokenlab`` (the same directory as ``unicode_table.cache_dir``, without
    importing numpy)."""
    return Path(os.environ.get("TOKENLAB_CACHE_DIR") or Path.home() / ".cache" / "tokenlab")


def _path(kind: str, digest: str):
    return cache_dir() / f"{kind}-{digest[:32]}.npy"


def load_array(kind: str, digest: str):
    """The cached array, or None (missing, unreadable or not an integer array)."""
    import numpy as np

    try:
        arr = np.load(_path(kind, digest), allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return arr if arr.dtype.kind in "iu" else None


def save_array(kind: str, digest: str, arr) -> None:
    import numpy as np

    path = _path(kind, digest)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
        np.save(tmp, arr, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        pass  # read-only cache directory: the value is recomputed next time
