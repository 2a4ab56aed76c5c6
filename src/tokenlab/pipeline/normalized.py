"""Text that remembers where each of its characters came from (HF's NormalizedString idea).

Every character of the normalized text carries the (start, end) character span of the original input
it was made from, so a token's offsets come from one place whatever normalizers and pre-tokenizers ran.
Edits follow HF's rules: a replacing character takes the span of the character it replaces, an inserted
one takes the span of the character before it (or an empty span at the start), a character that also
removes the next ones takes the span of the first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

Span = tuple[int, int]

BEHAVIORS = ("removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous")


class NormalizedString:
    """``starts`` / ``ends``: the original span of each character, as two int lists (cheap for the garbage
    collector, unlike a list of tuples)."""

    __slots__ = ("text", "starts", "ends", "origin")

    def __init__(self, text: str, starts: list[int] | None = None, ends: list[int] | None = None, origin: int = 0):
        self.text = text
        if starts is None:
            starts = list(range(origin, origin + len(text)))
            ends = list(range(origin + 1, origin + len(text) + 1))
        self.starts, self.ends = starts, ends
        # where this piece starts in the original (for insertions into an empty prefix)
        self.origin = origin

    def __len__(self) -> int:
        return len(self.text)

    def __repr__(self) -> str:
        return f"NormalizedString({self.text!r}, origin={self.origin})"

    @property
    def spans(self) -> list[Span]:
        return list(zip(self.starts, self.ends))

    def copy(self) -> NormalizedString:
        return NormalizedString(self.text, list(self.starts), list(self.ends), self.origin)

    def original_span(self, start: int = 0, end: int | None = None) -> Span:
        """Original (start, end) of the normalized characters [start, end)."""
        end = len(self.text) if end is None else end
        if start >= end:
            if start < len(self.starts):
                s = self.starts[start]
            elif self.starts:
                s = self.ends[-1]
            else:
                s = self.origin
            return (s, s)
        return (self.starts[start], self.ends[end - 1])

    # ------------------------------------------------------------------ edits
    def transform(self, pairs: Iterable[tuple[str, int]], initial_offset: int = 0) -> None:
        """HF's transform: ``(char, change)`` with change 0 = replaces the next old character, 1 = inserted,
        -n = replaces the next old character and removes the n after it; ``initial_offset`` old characters
        are removed first."""
        old_s, old_e = self.starts, self.ends
        pos = initial_offset
        chars: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        for ch, change in pairs:
            if change > 0:
                if pos >= 1:
                    a, b = old_s[pos - 1], old_e[pos - 1]
                else:
                    a = b = self.origin
            else:
                a, b = old_s[pos], old_e[pos]
                pos += 1 - change
            chars.append(ch)
            starts.append(a)
            ends.append(b)
        self.text = "".join(chars)
        self.starts, self.ends = starts, ends

    def map_chars(self, fn: Callable[[str], str]) -> None:
        """Each character to a string (empty = removed; extra characters share its span)."""
        text = self.text
        outs = list(map(fn, text))
        joined = "".join(outs)
        if len(joined) == len(text) and "" not in outs:  # one character for one: spans stay
            self.text = joined
            return
        starts: list[int] = []
        ends: list[int] = []
        for out, a, b in zip(outs, self.starts, self.ends):
            k = len(out)
            if k:
                starts.extend([a] * k)
                ends.extend([b] * k)
        self.text, self.starts, self.ends = joined, starts, ends

    def filter(self, keep: Callable[[str], bool]) -> None:
        flags = list(map(keep, self.text))
        if all(flags):
            return
        self.text = "".join(c for c, f in zip(self.text, flags) if f)
        self.starts = [a for a, f in zip(self.starts, flags) if f]
        self.ends = [b for b, f in zip(self.ends, flags) if f]

    def replace_segments(self, segments: Iterable[tuple[int, int, str]]) -> None:
        """Replace [start, end) ranges covering the text by new strings, positionally (HF's change rules:
        a longer result inserts after, a shorter one removes after its last character)."""
        pairs: list[tuple[str, int]] = []
        for start, end, new in segments:
            n, m = end - start, len(new)
            if m == 0:
                if pairs:
                    ch, change = pairs[-1]
                    pairs[-1] = (ch, change - n)
                # else: as HF's Precompiled, a removal with nothing before it is not recorded, so the next
                # characters take the spans of the removed ones
            elif m >= n:
                pairs.extend((c, 0 if k < n else 1) for k, c in enumerate(new))
            else:
                pairs.extend((c, 0) for c in new[:-1])
                pairs.append((new[-1], -(n - m)))
        self.transform(pairs)

    def prepend(self, s: str) -> None:
        if not self.text or not s:
            return
        a, b = self.starts[0], self.ends[0]
        self.text = s + self.text
        self.starts = [a] * len(s) + self.starts
        self.ends = [b] * len(s) + self.ends

    def append(self, s: str) -> None:
        if not self.text or not s:
            return
        a, b = self.starts[-1], self.ends[-1]
        self.text += s
        self.starts = self.starts + [a] * len(s)
        self.ends = self.ends + [b] * len(s)

    def replace(self, matches: list[tuple[int, int]], content: str) -> None:
        """Replace the [start, end) matches (sorted, disjoint) by ``content``; as HF, the new characters take
        the span of the last matched character (of the one before an empty match)."""
        if not matches:
            return
        text, old_s, old_e = self.text, self.starts, self.ends
        chars: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        last = 0
        k = len(content)
        for s, e in matches:
            chars.append(text[last:s])
            starts.extend(old_s[last:s])
            ends.extend(old_e[last:s])
            if k:
                if e > s:
                    a, b = old_s[e - 1], old_e[e - 1]
                elif s > 0:
                    a, b = old_s[s - 1], old_e[s - 1]
                else:
                    a = b = self.origin
                chars.append(content)
                starts.extend([a] * k)
                ends.extend([b] * k)
            last = e
        chars.append(text[last:])
        starts.extend(old_s[last:])
        ends.extend(old_e[last:])
        self.text = "".join(chars)
        self.starts, self.ends = starts, ends

    def strip(self, left: bool, right: bool, is_space: Callable[[str], bool]) -> None:
        text = self.text
        a, b = 0, len(text)
        if left:
            while a < b and is_space(text[a]):
                a += 1
        if right:
            while b > a and is_space(text[b - 1]):
                b -= 1
        if a or b != len(text):
            self.text = text[a:b]
            self.starts, self.ends = self.starts[a:b], self.ends[a:b]

    # ------------------------------------------------------------------ splitting
    def slice(self, start: int, end: int) -> NormalizedString:
        starts = self.starts[start:end]
        origin = starts[0] if starts else self.original_span(start, start)[0]
        return NormalizedString(self.text[start:end], starts, self.ends[start:end], origin)

    def split(self, matches: list[tuple[int, int, bool]], behavior: str) -> list[NormalizedString]:
        """Split by (start, end, is_match) intervals covering the text, with an HF split behaviour."""
        if behavior == "isolated":
            kept = [(s, e) for s, e, _ in matches]
        elif behavior == "removed":
            kept = [(s, e) for s, e, is_match in matches if not is_match]
        elif behavior == "contiguous":
            kept, prev = [], False
            for s, e, is_match in matches:
                if kept and is_match == prev:
                    kept[-1] = (kept[-1][0], e)
                else:
                    kept.append((s, e))
                prev = is_match
        elif behavior == "merged_with_previous":
            kept, prev = [], False
            for s, e, is_match in matches:
                if kept and is_match and not prev:
                    kept[-1] = (kept[-1][0], e)
                else:
                    kept.append((s, e))
                prev = is_match
        elif behavior == "merged_with_next":
            kept, prev = [], False
            for s, e, is_match in reversed(matches):
                if kept and is_match and not prev:
                    kept[-1] = (s, kept[-1][1])
                else:
                    kept.append((s, e))
                prev = is_match
            kept.reverse()
        else:
            raise ValueError(f"unknown split behavior {behavior!r}")
        return [self.slice(s, e) for s, e in kept]


def regex_matches(pattern, text: str) -> list[tuple[int, int, bool]]:
    """HF's Pattern.find_matches for a compiled regex: matched and unmatched intervals covering ``text``."""
    if not text:
        return [(0, 0, False)]
    out: list[tuple[int, int, bool]] = []
    prev = 0
    for m in pattern.finditer(text):
        s, e = m.span()
        if s == e and out and out[-1][2] and out[-1][1] == s:
            continue  # Oniguruma (HF) skips an empty match where the previous match ends; Python's regex keeps it
        if prev != s:
            out.append((prev, s, False))
        out.append((s, e, True))
        prev = e
    if prev != len(text):
        out.append((prev, len(text), False))
    return out


def char_matches(pred: Callable[[str], bool], text: str) -> list[tuple[int, int, bool]]:
    """HF's Pattern.find_matches for a character predicate: each matching character its own interval."""
    if not text:
        return [(0, 0, False)]
    out: list[tuple[int, int, bool]] = []
    last = 0
    for i, ch in enumerate(text):
        if pred(ch):
            if last < i:
                out.append((last, i, False))
            out.append((i, i + 1, True))
            last = i + 1
    if last < len(text):
        out.append((last, len(text), False))
    return out


def invert(matches: list[tuple[int, int, bool]]) -> list[tuple[int, int, bool]]:
    return [(s, e, not m) for s, e, m in matches]
