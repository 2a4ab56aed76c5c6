"""Regenerate src/tokenlab/data/regex_properties.json: the Unicode classes custom pre-tokenizer patterns use,
probed from tiktoken's regex engine (see make_unicode_classes.py for the probe).

The kernel's regex programs read these classes (``encode/regex_program.py``); the ``regex`` module's split maps the
code points it classifies differently to stand-ins (``pretokenize.stand_ins``), so both follow tiktoken's tables,
and under ``(?i)`` its case-folded classes (``case_insensitive``).
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
    # under (?i) tiktoken's engine widens a class to its simple case-folding closure (\p{Lu} then holds "a"; its
    # negation is the complement of the closure): stored where it differs from the class itself
    case_insensitive = {}
    for name in PROPERTIES + ["s", "d", "w"]:
        plain = rf"\p{{{name}}}" if name in PROPERTIES else "\\" + name
        folded = ranges(probe(f"(?i:{plain})"))
        if folded != classes[name]:
            case_insensitive[name] = folded
    # and what (?i) makes of ASCII letters (K for k, long s for s; not the dotted I the regex module adds to i)
    case_insensitive["ascii"] = ranges(probe("(?i:[a-z])"))
    data = {"source": f"tiktoken {tiktoken.__version__} regex engine", "classes": classes,
            "case_insensitive": case_insensitive}
    path = Path(__file__).resolve().parents[1] / "src" / "tokenlab" / "data" / "regex_properties.json"
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
