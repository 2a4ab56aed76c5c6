"""Per-code-point class bits for the native pre-tokenizers.

The table is derived from the ``regex`` module itself (the engine the slow path uses), so the
state machines in :mod:`tokenlab.encode.fast` agree with the regex patterns by construction
for every code point. Building takes ~0.1 s; it is cached as ``.npy`` under
``~/.cache/tokenlab`` (or ``$TOKENLAB_CACHE_DIR``) keyed by the regex and Unicode versions.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# class bits (one uint8 per code point)
LETTER = 1  # \p{L}
NUMBER = 2  # \p{N}
SPACE = 4  # \s
UPPERISH = 8  # [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]  (o200k)
LOWERISH = 16  # [\p{Ll}\p{Lm}\p{Lo}\p{M}]      (o200k)

N_CODE_POINTS = 0x110000

_CLASSES = [
    (LETTER, r"\p{L}"),
    (NUMBER, r"\p{N}"),
    (SPACE, r"\s"),
    (UPPERISH, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
    (LOWERISH, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"),
]


def cache_dir() -> Path:
    return Path(os.environ.get("TOKENLAB_CACHE_DIR") or Path.home() / ".cache" / "tokenlab")


def build_class_table() -> np.ndarray:
    """Ask ``regex`` which code points each class matches (surrogates get no bits)."""
    import regex

    cps = np.arange(N_CODE_POINTS, dtype=np.uint32)
    cps[0xD800:0xE000] = ord("x")  # placeholder: a str cannot hold lone surrogates
    text = cps.tobytes().decode("utf-32-le")
    table = np.zeros(N_CODE_POINTS, dtype=np.uint8)
    for bit, cls in _CLASSES:
        for m in regex.finditer(cls + "+", text):
            table[m.start() : m.end()] |= bit
    table[0xD800:0xE000] = 0
    return table


_TABLE: np.ndarray | None = None


def class_table() -> np.ndarray:
    """The table, from memory, the on-disk cache, or built (and cached) now."""
    global _TABLE
    if _TABLE is not None:
        return _TABLE
    import unicodedata

    import regex

    path = cache_dir() / f"uclass-regex{regex.__version__}-ucd{unicodedata.unidata_version}-v1.npy"
    table = None
    try:
        loaded = np.load(path)
        if loaded.shape == (N_CODE_POINTS,) and loaded.dtype == np.uint8:
            table = loaded
    except (OSError, ValueError):
        pass
    if table is None:
        table = build_class_table()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, table)
            os.replace(tmp, path)
        except OSError:
            pass  # read-only home: rebuilding each process costs ~0.1 s
    _TABLE = table
    return table
