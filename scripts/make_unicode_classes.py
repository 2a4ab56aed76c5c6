"""Regenerate src/tokenlab/data/unicode_classes.json from tiktoken's regex engine.

tokenlab's compiled pre-tokenizers classify code points with this shipped table instead of the
installed ``regex`` package's Unicode version, so ids do not change with a ``regex`` upgrade and
equal tiktoken's on every code point. Each class is probed by encoding all code points with a
one-class pattern over a bytes-only vocabulary: tiktoken keeps exactly the matched characters.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CLASSES = {
    "letter": r"\p{L}",
    "number": r"\p{N}",
    "space": r"\s",
    "upperish": r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]",
    "lowerish": r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]",
}


def probe(pattern: str) -> list[int]:
    import tiktoken

    enc = tiktoken.Encoding(name=f"probe-{abs(hash(pattern))}", pat_str=pattern,
                            mergeable_ranks={bytes([b]): b for b in range(256)}, special_tokens={})
    hits: list[int] = []
    for lo in range(0, 0x110000, 65536):
        text = "".join(chr(c) for c in range(lo, lo + 65536) if not 0xD800 <= c < 0xE000)
        hits.extend(map(ord, enc.decode_bytes(enc.encode_ordinary(text)).decode("utf-8")))
    return sorted(hits)


def ranges(code_points: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for c in code_points:
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def main() -> int:
    import tiktoken

    data = {"source": f"tiktoken {tiktoken.__version__} regex engine",
            "classes": {name: ranges(probe(rx)) for name, rx in CLASSES.items()}}
    path = Path(__file__).resolve().parents[1] / "src" / "tokenlab" / "data" / "unicode_classes.json"
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
