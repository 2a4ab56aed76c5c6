"""Added tokens: strings that are always one token, found before the model runs (HF's AddedVocabulary).

Tokens with ``normalized=False`` are found in the raw text, the others in the normalized text (matched by
their normalized form). Matching is leftmost-longest; ``single_word`` needs no word character on either
side, ``lstrip``/``rstrip`` swallow the whitespace on that side.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import regex

from . import hf_unicode
from .normalized import NormalizedString
from .pre_tokenizers import Piece, PreTokenizedString


@dataclass(frozen=True)
class AddedToken:
    id: int
    content: str
    single_word: bool = False
    lstrip: bool = False
    rstrip: bool = False
    normalized: bool = True
    special: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AddedToken:
        return cls(int(d["id"]), str(d["content"]), bool(d.get("single_word", False)), bool(d.get("lstrip", False)),
                   bool(d.get("rstrip", False)), bool(d.get("normalized", not d.get("special", False))),
                   bool(d.get("special", False)))


@lru_cache(maxsize=128)
def _alternation(contents: tuple[str, ...]):
    return regex.compile("|".join(regex.escape(c) for c in sorted(set(contents), key=len, reverse=True)))


class AddedVocabulary:
    def __init__(self, tokens: list[AddedToken], normalizer=None):
        self.tokens = list(tokens)
        self.by_id = {t.id: t for t in self.tokens}
        self.by_content: dict[str, AddedToken] = {}
        for t in self.tokens:
            self.by_content.setdefault(t.content, t)
        self._matchers: dict = {}
        # the string a normalized token is matched as: its content through the normalizer
        self.match_form: dict[int, str] = {}
        for t in self.tokens:
            form = t.content
            if t.normalized and normalizer is not None:
                form = normalizer.normalize_str(t.content)
            self.match_form[t.id] = form

    @property
    def special_contents(self) -> set[str]:
        return {t.content for t in self.tokens if t.special}

    def _matcher(self, normalized: bool, enabled: frozenset[str] | None):
        key = (normalized, enabled)
        hit = self._matchers.get(key)
        if hit is None:
            hit = self._matchers[key] = self._build_matcher(normalized, enabled)
            if len(self._matchers) > 64:
                self._matchers.pop(next(iter(self._matchers)))
        return hit

    def _build_matcher(self, normalized: bool, enabled: frozenset[str] | None):
        forms: dict[str, AddedToken] = {}
        for t in sorted(self.tokens, key=lambda t: t.id):
            if t.normalized != normalized or not t.content:
                continue
            if t.special and enabled is not None and t.content not in enabled:
                continue
            forms.setdefault(self.match_form[t.id], t)
        if not forms:
            return None, forms
        return _alternation(tuple(forms)), forms

    def split(self, text: str, normalizer, enabled_specials: frozenset[str] | None = None) -> PreTokenizedString:
        """``enabled_specials``: which special tokens are matched (None: all, as HF)."""
        pts = PreTokenizedString([Piece(NormalizedString(text))])
        raw, raw_forms = self._matcher(False, enabled_specials)
        if raw is not None:
            pts.pieces = [q for p in pts.pieces for q in self._split_piece(p, raw, raw_forms)]
        norm, norm_forms = self._matcher(True, enabled_specials)
        out: list[Piece] = []
        for p in pts.pieces:
            if p.token_id is not None:
                out.append(p)
                continue
            if normalizer is not None:
                normalizer.normalize(p.normalized)
            if norm is not None:
                out.extend(self._split_piece(p, norm, norm_forms))
            else:
                out.append(p)
        pts.pieces = [p for p in out if p.normalized.text]  # as HF, empty pieces (even matched ones) go
        return pts

    @staticmethod
    def _split_piece(piece: Piece, pattern, forms: dict[str, AddedToken]) -> list[Piece]:
        n = piece.normalized
        text = n.text
        word, space = hf_unicode.char_class("regex_word"), hf_unicode.char_class("regex_space")
        out: list[Piece] = []
        start_offset = 0
        for m in pattern.finditer(text):
            start, stop = m.span()
            tok = forms[m.group()]
            if tok.single_word:
                if (start > 0 and text[start - 1] in word) or (stop < len(text) and text[stop] in word):
                    continue
            if tok.lstrip:
                s = start
                while s > 0 and text[s - 1] in space:
                    s -= 1
                start = max(s, start_offset)
            if tok.rstrip:
                while stop < len(text) and text[stop] in space:
                    stop += 1
            if start_offset < start:
                out.append(Piece(n.slice(start_offset, start)))
            out.append(Piece(n.slice(start, stop), tok.id))
            start_offset = stop
        if start_offset < len(text) or not out:
            out.append(Piece(n.slice(start_offset, len(text))))
        return out

    def to_list(self) -> list[dict]:
        return [t.to_dict() for t in sorted(self.tokens, key=lambda t: t.id)]
