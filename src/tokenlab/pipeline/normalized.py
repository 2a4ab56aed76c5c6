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
    __slots__ = ("text", "spans", "origin")

    def __init__(self, text: str, spans: list[Span] | None = None, origin: int = 0):
        self.text = text
        # original span of each character; origin: where this piece starts in the original (for insertions
        # into an empty prefix)
        self.spans = [(origin + i, origin + i + 1) for i in range(len(text))] if spans is None else spans
        self.origin = origin

    def __len__(self) -> int:
        return len(self.text)

    def __repr__(self) -> str:
        return f"NormalizedString({self.text!r}, origin={self.origin})"

    def copy(self) -> NormalizedString:
        return NormalizedString(self.text, list(self.spans), self.origin)

    def original_span(self, start: int = 0, end: int | None = None) -> Span:
        """Original (start, end) of the normalized characters [start, end)."""
        end = len(self.text) if end is None else end
        if start >= end:
            if start < len(self.spans):
                s = self.spans[start][0]
            elif self.spans:
                s = self.spans[-1][1]
            else:
                s = self.origin
            return (s, s)
        return (self.spans[start][0], self.spans[end - 1][1])

    # ------------------------------------------------------------------ edits
    def transform(self, pairs: Iterable[tuple[str, int]], initial_offset: int = 0) -> None:
        """HF's transform: ``(char, change)`` with change 0 = replaces the next old character, 1 = inserted,
        -n = replaces the next old character and removes the n after it; ``initial_offset`` old characters
        are removed first."""
        old = self.spans
        pos = initial_offset
        chars: list[str] = []
        spans: list[Span] = []
        for ch, change in pairs:
            if change > 0:
                span = old[pos - 1] if pos >= 1 else (self.origin, self.origin)
            else:
                span = old[pos]
                pos += 1 - change
            chars.append(ch)
            spans.append(span)
        self.text = "".join(chars)
        self.spans = spans

    def map_chars(self, fn: Callable[[str], str]) -> None:
        """Each character to a string (empty = removed; extra characters share its span)."""
        text, old = self.text, self.spans
        outs = list(map(fn, text))
        joined = "".join(outs)
        if len(joined) == len(text) and "" not in outs:  # one character for one: spans stay
            self.text = joined
            return
        chars: list[str] = []
        spans: list[Span] = []
        changed = False
        for ch, span in zip(text, old):
            out = fn(ch)
            if out != ch:
                changed = True
            for c in out:
                chars.append(c)
                spans.append(span)
        if changed:
            self.text = "".join(chars)
            self.spans = spans

    def filter(self, keep: Callable[[str], bool]) -> None:
        if all(keep(c) for c in self.text):
            return
        kept = [(c, s) for c, s in zip(self.text, self.spans) if keep(c)]
        self.text = "".join(c for c, _ in kept)
        self.spans = [s for _, s in kept]

    def replace_segments(self, segments: Iterable[tuple[int, int, str]]) -> None:
        """Replace [start, end) ranges covering the text by new strings, positionally (HF's change rules:
        a longer result inserts after, a shorter one removes after its last character)."""
        self._replace_runs(list(segments))

    def prepend(self, s: str) -> None:
        if not self.text or not s:
            return
        span = self.spans[0]
        self.text = s + self.text
        self.spans = [span] * len(s) + self.spans

    def append(self, s: str) -> None:
        if not self.text or not s:
            return
        span = self.spans[-1]
        self.text += s
        self.spans = self.spans + [span] * len(s)

    def replace(self, matches: list[tuple[int, int]], content: str) -> None:
        """Replace the [start, end) matches (sorted, disjoint) by ``content``; as HF, the new characters take
        the span of the last matched character (of the one before an empty match)."""
        if not matches:
            return
        text, old = self.text, self.spans
        chars: list[str] = []
        spans: list[Span] = []
        last = 0
        for s, e in matches:
            chars.append(text[last:s])
            spans.extend(old[last:s])
            if content:
                span = old[e - 1] if e > s else old[s - 1] if s > 0 else (self.origin, self.origin)
                chars.append(content)
                spans.extend([span] * len(content))
            last = e
        chars.append(text[last:])
        spans.extend(old[last:])
        self.text = "".join(chars)
        self.spans = spans

    def _replace_runs(self, segs: list[tuple[int, int, str]]) -> None:
        pairs: list[tuple[str, int]] = []
        initial = 0
        for start, end, new in segs:
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
        self.transform(pairs, initial)

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
            self.spans = self.spans[a:b]

    # ------------------------------------------------------------------ splitting
    def slice(self, start: int, end: int) -> NormalizedString:
        spans = self.spans[start:end]
        origin = spans[0][0] if spans else self.original_span(start, start)[0]
        return NormalizedString(self.text[start:end], spans, origin)

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
