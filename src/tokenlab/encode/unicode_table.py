"""Per-code-point class bits for the native pre-tokenizers.

The classes come from a table shipped with tokenlab (``data/unicode_classes.json``, probed from
tiktoken's regex engine by ``scripts/make_unicode_classes.py``), not from whatever Unicode version
the installed ``regex`` package has: ids then equal tiktoken's on every code point and do not
change with a ``regex`` upgrade. (The pure-Python fallback uses ``regex`` and can differ on code
points assigned in a newer Unicode version than tiktoken's.) ``build_class_table_from_regex``
keeps the old derivation for comparison. The table is cached as ``.npy`` under
``~/.cache/tokenlab`` (or ``$TOKENLAB_CACHE_DIR``).
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
MARK = 32  # \p{M} (the cl100k family's [\p{L}\p{M}] letters, Qwen3.5); from data/regex_properties.json
PUNSYM = 64  # \p{P} or \p{S} (DeepSeek); from data/regex_properties.json

N_CODE_POINTS = 0x110000

_CLASSES = [
    (LETTER, r"\p{L}"),
    (NUMBER, r"\p{N}"),
    (SPACE, r"\s"),
    (UPPERISH, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
    (LOWERISH, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"),
    (MARK, r"\p{M}"),
    (PUNSYM, r"[\p{P}\p{S}]"),
]


def cache_dir() -> Path:
    return Path(os.environ.get("TOKENLAB_CACHE_DIR") or Path.home() / ".cache" / "tokenlab")


_SHIPPED_NAMES = {LETTER: "letter", NUMBER: "number", SPACE: "space", UPPERISH: "upperish", LOWERISH: "lowerish"}


def shipped_classes() -> dict:
    import json
    from importlib.resources import files

    return json.loads(files("tokenlab").joinpath("data/unicode_classes.json").read_text(encoding="utf-8"))


def build_class_table() -> np.ndarray:
    """The class bits from the shipped ranges."""
    classes = shipped_classes()["classes"]
    table = np.zeros(N_CODE_POINTS, dtype=np.uint8)
    for bit, name in _SHIPPED_NAMES.items():
        for lo, hi in classes[name]:
            table[lo : hi + 1] |= bit
    probed = _probed()
    for bit, names in ((MARK, ("M",)), (PUNSYM, ("P", "S"))):
        for name in names:
            for lo, hi in probed[name]:
                table[lo : hi + 1] |= bit
    table[0xD800:0xE000] = 0
    return table


def _probed(part: str = "classes") -> dict:
    """tiktoken's general categories, probed into data/regex_properties.json (``part="case_insensitive"``: the
    ones ``(?i)`` widens, as that engine widens them)."""
    import json
    from importlib.resources import files

    return json.loads(files("tokenlab").joinpath("data/regex_properties.json").read_text(encoding="utf-8"))[part]


_HF_BITS = {LETTER: ("L",), NUMBER: ("N",), SPACE: ("\\s",), UPPERISH: ("Lu", "Lt", "Lm", "Lo", "M"),
            LOWERISH: ("Ll", "Lm", "Lo", "M"), MARK: ("M",), PUNSYM: ("P", "S")}
_HF_TABLE: np.ndarray | None = None


def hf_class_table() -> np.ndarray:
    """The class bits as HF ``tokenizers``' regex engine (Oniguruma) sees them (data/hf_unicode.json), for the
    kernel when it reproduces a tokenizer.json's Split regexes."""
    global _HF_TABLE
    if _HF_TABLE is None:
        from ..pipeline.hf_unicode import table as hf_table

        props = hf_table()["regex_properties"]
        out = np.zeros(N_CODE_POINTS, dtype=np.uint8)
        for bit, names in _HF_BITS.items():
            for name in names:
                for lo, hi in props[name]:
                    out[lo : hi + 1] |= bit
        out[0xD800:0xE000] = 0
        _HF_TABLE = out
    return _HF_TABLE


def build_class_table_from_regex() -> np.ndarray:
    """Ask the installed ``regex`` which code points each class matches (surrogates get no bits)."""
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
    import hashlib
    from importlib.resources import files

    digest = hashlib.sha256(files("tokenlab").joinpath("data/unicode_classes.json").read_bytes()).hexdigest()[:16]
    path = cache_dir() / f"uclass-{digest}-v4.npy"  # v4: the MARK and PUNSYM bits
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
