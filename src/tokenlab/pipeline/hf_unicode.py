"""HF ``tokenizers``' character classes and per-character maps, from the pinned table ``data/hf_unicode.json``.

HF classifies characters with Rust's ``char`` methods and crates of their own Unicode versions, not
Python's ``unicodedata``; ``scripts/make_hf_unicode_tables.py`` probes them through HF's public
components over every code point, and tests re-probe. Python's own tables fill in where HF agrees.
"""

from __future__ import annotations

import bisect
import json
import re
import unicodedata
from functools import cache, lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def table() -> dict:
    with resources.files("tokenlab.data").joinpath("hf_unicode.json").open(encoding="utf-8") as f:
        return json.load(f)


class CharClass:
    """Membership of code points in a set of ranges (bisect; answers cached per character)."""

    def __init__(self, ranges: list[list[int]]):
        self.starts = [r[0] for r in ranges]
        self.ends = [r[1] for r in ranges]
        self._cache: dict[str, bool] = {}

    @property
    def regex(self):
        """A compiled character class of these ranges (to find members fast)."""
        rx = self.__dict__.get("_regex")
        if rx is None:
            import regex

            rows = [[a, b] for a, b in zip(self.starts, self.ends)]
            rx = self.__dict__["_regex"] = regex.compile(f"[{_ranges_text(rows)}]" if rows else r"(?!)")
        return rx

    def __contains__(self, ch: str) -> bool:
        hit = self._cache.get(ch)
        if hit is None:
            cp = ord(ch)
            k = bisect.bisect_right(self.starts, cp) - 1
            hit = self._cache[ch] = k >= 0 and cp <= self.ends[k]
        return hit


@cache
def char_class(name: str) -> CharClass:
    """``bert_removed`` (BertNormalizer clean_text drops), ``bert_to_space``, ``chinese``, ``white_space``
    (Rust ``char::is_whitespace``), ``punctuation`` (ASCII or Unicode P*), ``numeric`` (``char::is_numeric``),
    ``regex_word`` / ``regex_space`` (``\\w`` / ``\\s`` of the Whitespace pre-tokenizer), ``combining_mark``."""
    return CharClass(table()["classes"][name])


@cache
def char_map(name: str) -> dict[str, str]:
    """Characters whose HF result differs from Python's: ``lowercase``, ``bert_strip_accents``, NFD/NFKD/NFC/NFKC."""
    return {chr(int(k)): v for k, v in table()["maps"][name].items()}


def lowercase(ch: str) -> str:
    got = char_map("lowercase").get(ch)
    return ch.lower() if got is None else got


def bert_strip_accents(ch: str) -> str:
    got = char_map("bert_strip_accents").get(ch)
    if got is not None:
        return got
    return "".join(x for x in unicodedata.normalize("NFD", ch) if unicodedata.category(x) != "Mn")


@lru_cache(maxsize=1)
def _scripts() -> tuple[list[int], list[int], list[int]]:
    rows = table()["scripts"]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def script(ch: str) -> int:
    """UnicodeScripts' script class of ``ch`` (0: "Any", which never splits)."""
    starts, ends, ids = _scripts()
    cp = ord(ch)
    k = bisect.bisect_right(starts, cp) - 1
    return ids[k] if k >= 0 and cp <= ends[k] else 0


# ---------------------------------------------------------------------- Unicode normalization forms
@lru_cache(maxsize=1)
def _second_of_pair() -> frozenset[str]:
    """Characters that compose with a preceding starter (the second of a canonical pair, Hangul V/T)."""
    out = set()
    for cp in range(0x110000):
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<"):
            parts = d.split()
            if len(parts) == 2:
                out.add(chr(int(parts[1], 16)))
    out.update(chr(c) for c in range(0x1161, 0x11C3))
    return frozenset(out)


@lru_cache(maxsize=1 << 16)
def _opens_segment(ch: str, form: str) -> bool:
    """Whether normalization never reaches across a boundary before ``ch``."""
    if ch in char_map(form):
        return True
    decomposed = unicodedata.normalize("NFKD" if "K" in form else "NFD", ch)
    first = decomposed[0] if decomposed else ch
    return unicodedata.combining(first) == 0 and first not in _second_of_pair()


def normalize_segments(text: str, form: str) -> list[tuple[int, int, str]]:
    """``text`` normalized to ``form`` as HF does, in independent segments: (start, end, normalized)."""
    overrides = char_map(form)
    out: list[tuple[int, int, str]] = []
    start = 0
    n = len(text)
    for i in range(1, n + 1):
        if i == n or _opens_segment(text[i], form) or text[i - 1] in overrides:
            seg = text[start:i]
            if len(seg) == 1 and seg in overrides:
                out.append((start, i, overrides[seg]))
            else:
                out.append((start, i, unicodedata.normalize(form, seg)))
            start = i
    return out


@lru_cache(maxsize=1 << 14)
def _compose(a: str, b: str) -> str | None:
    got = unicodedata.normalize("NFC", a + b)
    return got if len(got) == 1 else None


def _reorder(pairs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Canonical ordering: runs of non-starters sorted (stably) by combining class; changes move along."""
    out: list[tuple[str, int]] = []
    run: list[tuple[str, int]] = []
    for p in pairs:
        if unicodedata.combining(p[0]):
            run.append(p)
            continue
        if run:
            out.extend(sorted(run, key=lambda q: unicodedata.combining(q[0])))
            run = []
        out.append(p)
    out.extend(sorted(run, key=lambda q: unicodedata.combining(q[0])))
    return out


def _recompose(pairs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Canonical composition over (char, change) pairs: a composed character carries both changes, less one."""
    out: list[tuple[str, int]] = []
    starter: int | None = None
    last_ccc: int | None = None  # class of the last character kept after the starter (None: none yet)
    for c, change in pairs:
        ccc = unicodedata.combining(c)
        if starter is not None and (last_ccc is None or (last_ccc != 0 and last_ccc < ccc)):
            composed = _compose(out[starter][0], c)
            if composed is not None:
                out[starter] = (composed, out[starter][1] + change - 1)
                continue
        if ccc == 0:
            starter, last_ccc = len(out), None
        else:
            last_ccc = ccc
        out.append((c, change))
    return out


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def normalize_pairs(text: str, form: str) -> list[tuple[str, int]]:
    """``text`` in ``form`` as HF's NormalizedString transform input: (char, change) pairs, each character
    decomposed on its own (first part replaces it, the rest inserted), reordered and recomposed. ASCII is
    stable and never composes with what follows, so only non-ASCII runs (with the character before) are worked."""
    out: list[tuple[str, int]] = []
    last = 0
    for m in _NON_ASCII.finditer(text):
        a, b = m.span()
        if a > last:
            a -= 1
        out.extend((c, 0) for c in text[last:a])
        out.extend(_normalize_region(text[a:b], form))
        last = b
    out.extend((c, 0) for c in text[last:])
    return out


def _normalize_region(text: str, form: str) -> list[tuple[str, int]]:
    decomposition = "NFKD" if "K" in form else "NFD"
    decomposed_override = char_map(decomposition)
    out: list[tuple[str, int]] = []
    for start, end, target in normalize_segments(text, form):
        if target == text[start:end]:
            out.extend((c, 0) for c in target)
            continue
        pairs: list[tuple[str, int]] = []
        for ch in text[start:end]:
            d = decomposed_override.get(ch)
            if d is None:
                d = unicodedata.normalize(decomposition, ch)
            pairs.extend((c, 0 if k == 0 else 1) for k, c in enumerate(d))
        pairs = _reorder(pairs)
        if form in ("NFC", "NFKC"):
            pairs = _recompose(pairs)
        if "".join(c for c, _ in pairs) != target:  # positional: replace, then insert or remove after
            n, m = end - start, len(target)
            if m >= n:
                pairs = [(c, 0 if k < n else 1) for k, c in enumerate(target)]
            else:
                pairs = [(c, 0) for c in target[:-1]] + [(target[-1], -(n - m))] if target else []
        out.extend(pairs)
    return out


# ---------------------------------------------------------------------- regex classes
_PROPERTY = re.compile(r"\\([pP])(?:\{(\^?)([A-Za-z_]+)\}|([A-Z]))")


def _ranges_text(rows: list[list[int]]) -> str:
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in rows)


@lru_cache(maxsize=256)
def pin_regex(pattern: str) -> str:
    """``pattern`` with its general-category classes (``\\p{L}``, ``\\p{N}``, ... and ``\\s``, ``\\w``, ``\\d``)
    spelled as the code point ranges HF's regex engine (Oniguruma) matches, so Python's ``regex`` module,
    whatever its Unicode version, finds the same matches. Other syntax is left as it is."""
    props = table().get("regex_properties", {})
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False

    def emit(rows, negated: bool, original: str) -> None:
        body = _ranges_text(rows)
        if in_class:
            out.append(original if negated else body)
        else:
            out.append(f"[{'^' if negated else ''}{body}]")

    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            m = _PROPERTY.match(pattern, i) if nxt in "pP" else None
            if m:
                name = m.group(3) or m.group(4)
                if name in props:
                    emit(props[name], (nxt == "P") != bool(m.group(2)), m.group())
                    i = m.end()
                    continue
            elif nxt in "sSwWdD" and f"\\{nxt.lower()}" in props:
                emit(props[f"\\{nxt.lower()}"], nxt.isupper(), pattern[i:i + 2])
                i += 2
                continue
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
            out.append(c)
            i += 1
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):
                out.append("\\]")
                i += 1
            continue
        if c == "]" and in_class:
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)


@lru_cache(maxsize=1)
def _all_code_points() -> str:
    return "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x110000)))


@cache
def _disagreement(name: str) -> frozenset[int]:
    """Code points where the installed ``regex`` module and HF's engine disagree on class ``name``."""
    import regex

    pattern = f"{name}+" if name.startswith("\\") else f"\\p{{{name}}}+"
    ours: set[int] = set()
    for m in regex.finditer(pattern, _all_code_points()):
        a, b = m.span()
        ours.update(range(ord(m.string[a]), ord(m.string[b - 1]) + 1))
    theirs: set[int] = set()
    for a, b in table()["regex_properties"][name]:
        theirs.update(range(a, b + 1))
    return frozenset(ours ^ theirs)


class HFRegex:
    """A regex with HF's Unicode classes: the plain compiled pattern on text without a code point where the
    ``regex`` module's classes differ from HF's, the pinned (slower) one otherwise."""

    def __init__(self, pattern: str):
        import regex

        self.pattern = pattern
        self.raw = regex.compile(pattern)
        pinned = pin_regex(pattern)
        self.pinned = None if pinned == pattern else regex.compile(pinned)
        self.guard = None
        if self.pinned is not None:
            props = table().get("regex_properties", {})
            names = {m.group(3) or m.group(4) for m in _PROPERTY.finditer(pattern)}
            names |= {f"\\{c.lower()}" for c in re.findall(r"\\([sSwWdD])", pattern)}
            diff: set[int] = set()
            for name in names & set(props):
                diff |= _disagreement(name)
            rows: list[list[int]] = []
            for c in sorted(diff):
                if rows and rows[-1][1] == c - 1:
                    rows[-1][1] = c
                else:
                    rows.append([c, c])
            self.guard = regex.compile(f"[{_ranges_text(rows)}]") if rows else None

    def _pick(self, text: str):
        if self.pinned is None or self.guard is None or self.guard.search(text) is None:
            return self.raw
        return self.pinned

    def finditer(self, text: str):
        return self._pick(text).finditer(text)

    def sub(self, repl, text: str) -> str:
        return self._pick(text).sub(repl, text)
