"""Regenerate src/tokenlab/data/regex_properties.json: the Unicode classes custom pre-tokenizer patterns use,
probed from tiktoken's regex engine (see make_unicode_classes.py for the probe).

tokenlab rewrites ``\\p{L}``, ``\\s``, ... in a custom pattern into these explicit ranges before compiling it
with the installed ``regex`` (whose Unicode version is newer), so its splits follow tiktoken's tables.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_unicode_classes import probe, ranges  # noqa: E402

PROPERTIES = ["L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "S", "Z",
              "C", "Han", "Hiragana", "Katakana", "Latin"]


def main() -> int:
    import tiktoken

    classes = {name: ranges(probe(rf"\p{{{name}}}")) for name in PROPERTIES}
    classes["s"] = ranges(probe(r"\s"))
    classes["d"] = ranges(probe(r"\d"))
    classes["w"] = ranges(probe(r"\w"))
    data = {"source": f"tiktoken {tiktoken.__version__} regex engine", "classes": classes}
    path = Path(__file__).resolve().parents[1] / "src" / "tokenlab" / "data" / "regex_properties.json"
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
