"""Regenerate src/tokenlab/data/hf_unicode.json by probing the installed HF ``tokenizers``.

HF's components classify characters with Rust's ``char`` methods, the ``unicode_categories`` crate and
its own script table, each of its own Unicode version; Python's ``unicodedata`` is of another. The
pipeline components (`tokenlab.pipeline`) and the WordPiece model read this table instead, so their
ids equal HF's on every code point, old or newly assigned. Each class is probed through the public
component that uses it, one code point at a time.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

SURROGATES = range(0xD800, 0xE000)


def code_points():
    return (c for c in range(0x110000) if c not in SURROGATES)


def ranges(points) -> list[list[int]]:
    out: list[list[int]] = []
    for c in points:
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def _pieces(pre, text: str) -> list[str]:
    return [p for p, _ in pre.pre_tokenize_str(text)]


def probe_classes() -> dict[str, list[list[int]]]:
    """Sets of code points: the character tests behind BertNormalizer and the pre-tokenizers."""
    from tokenizers import normalizers as N
    from tokenizers import pre_tokenizers as P

    clean = N.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    chinese = N.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    ws_split, punct, ws = P.WhitespaceSplit(), P.Punctuation(), P.Whitespace()
    digits = P.Digits(individual_digits=False)
    sets: dict[str, list[int]] = {k: [] for k in ("bert_removed", "bert_to_space", "chinese", "white_space",
                                                  "punctuation", "numeric", "regex_word", "regex_space",
                                                  "combining_mark")}
    strip = N.StripAccents()
    for c in code_points():
        ch = chr(c)
        got = clean.normalize_str(ch)
        if got == "":
            sets["bert_removed"].append(c)
        elif got == " " and ch != " ":
            sets["bert_to_space"].append(c)
        if chinese.normalize_str(ch) == f" {ch} ":
            sets["chinese"].append(c)
        if _pieces(ws_split, f"a{ch}a") == ["a", "a"]:
            sets["white_space"].append(c)
        if len(_pieces(punct, f"a{ch}a")) == 3:
            sets["punctuation"].append(c)
        if len(_pieces(digits, f"a{ch}a")) == 3:
            sets["numeric"].append(c)
        if strip.normalize_str(ch) == "":
            sets["combining_mark"].append(c)
        w = _pieces(ws, f"a{ch}")
        if w == [f"a{ch}"]:
            sets["regex_word"].append(c)
        elif w == ["a"]:
            sets["regex_space"].append(c)
    return {k: ranges(v) for k, v in sets.items()}


def _strip_accents_py(ch: str) -> str:
    return "".join(x for x in unicodedata.normalize("NFD", ch) if unicodedata.category(x) != "Mn")


def probe_maps() -> dict[str, dict[str, str]]:
    """Per-character results that differ from Python's: lowercase, BertNormalizer's accent stripping (NFD, then
    drop Mn), NFD/NFKD/NFC/NFKC."""
    from tokenizers import normalizers as N

    probes = {
        "lowercase": (N.Lowercase(), str.lower),
        "bert_strip_accents": (N.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True,
                                               lowercase=False), _strip_accents_py),
        "NFD": (N.NFD(), lambda s: unicodedata.normalize("NFD", s)),
        "NFKD": (N.NFKD(), lambda s: unicodedata.normalize("NFKD", s)),
        "NFC": (N.NFC(), lambda s: unicodedata.normalize("NFC", s)),
        "NFKC": (N.NFKC(), lambda s: unicodedata.normalize("NFKC", s)),
    }
    out: dict[str, dict[str, str]] = {k: {} for k in probes}
    for c in code_points():
        ch = chr(c)
        for name, (hf, py) in probes.items():
            got = hf.normalize_str(ch)
            if got != py(ch):
                out[name][str(c)] = got
    return out


def probe_scripts() -> list[list[int]]:
    """[start, end, script] ranges of UnicodeScripts' script classes (after its Hiragana/Katakana -> Han
    folding); script 0 is "Any" (never splits). Scripts are numbered in order of first appearance."""
    from tokenizers import pre_tokenizers as P

    pre = P.UnicodeScripts()
    same = lambda a, b: len(_pieces(pre, a + b)) == 1  # noqa: E731
    reps: list[str] = []  # representative character of each script, index + 1 = script id
    script_of: dict[int, int] = {}
    chunk: list[str] = []

    def classify(run: str) -> int:
        rep = run[0]
        for k in range(len(reps) - 1, -1, -1):
            if same(rep, reps[k]):
                return k + 1
        reps.append(rep)
        return len(reps)

    def flush():
        if not chunk:
            return
        text = "".join(chunk)
        for run in _pieces(pre, text):
            sid = classify(run)
            for ch in run:
                script_of[ord(ch)] = sid
        chunk.clear()

    for c in code_points():
        ch = chr(c)
        if ch == " " or (same(ch, "a") and same(ch, "\u03b1")):
            script_of[c] = 0
            continue
        chunk.append(ch)
        if len(chunk) >= 4096:
            flush()
    flush()
    out: list[list[int]] = []
    for c in sorted(script_of):
        s = script_of[c]
        if out and out[-1][1] == c - 1 and out[-1][2] == s:
            out[-1][1] = c
        else:
            out.append([c, c, s])
    return out


# regex classes of HF's Split / ByteLevel patterns (Oniguruma's Unicode tables): name -> pattern
REGEX_PROPERTIES = {name: rf"\p{{{name}}}" for name in (
    "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Ps", "Pe",
    "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp", "C", "Cc", "Cf", "Co", "Cn")}
REGEX_PROPERTIES.update({"\\s": r"\s", "\\w": r"\w", "\\d": r"\d"})


def probe_regex_properties() -> dict[str, list[list[int]]]:
    """Code points each class matches in HF's regex engine: a Split that removes the matches leaves the rest."""
    from tokenizers import Regex
    from tokenizers import pre_tokenizers as P

    out = {}
    for name, pattern in REGEX_PROPERTIES.items():
        pre = P.Split(Regex(pattern), behavior="removed")
        hits: list[int] = []
        for lo in range(0, 0x110000, 0x8000):
            chars = [c for c in range(lo, lo + 0x8000) if c not in SURROGATES]
            kept = [False] * len(chars)
            for _, (a, b) in pre.pre_tokenize_str("".join(map(chr, chars))):
                for k in range(a, b):
                    kept[k] = True
            hits.extend(c for c, keep in zip(chars, kept) if not keep)
        out[name] = ranges(hits)
    return out


def build() -> dict:
    import tokenizers

    return {"source": f"tokenizers {tokenizers.__version__}", "classes": probe_classes(), "maps": probe_maps(),
            "scripts": probe_scripts(), "regex_properties": probe_regex_properties()}


def main() -> int:
    data = build()
    path = Path(__file__).resolve().parents[1] / "src" / "tokenlab" / "data" / "hf_unicode.json"
    path.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
