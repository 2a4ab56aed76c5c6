"""Language-aware pre-segmentation: cut text at morpheme or compound boundaries before subword tokenization.

"An Empirical Study of Tokenization Strategies for Various Korean NLP Tasks" (Park et al. 2020) finds
morpheme-aware subwords (an analyser first, then BPE inside morphemes) best on most Korean tasks;
"CompoundPiece" (Minixhofer et al. 2023) splits compounds before subword tokenization. A pre-segmenter
here returns pieces whose concatenation is exactly the text (so decoding stays exact); tokens never cross
a piece boundary, in training (:func:`train_presegmented`) and in encoding (:class:`PresegmentedTokenizer`).

Segmenters: any morphological analyser of :mod:`tokenlab.evaluate.linguistic` (Korean ``kiwi``, Japanese
``fugashi``, Chinese ``jieba``, Turkish ``zeyrek``, Russian ``pymorphy3``, ``morfessor``), and
:class:`CompoundSplitter`, a frequency-based decompounder learnt from text (Koehn & Knight 2003: split a
word into known words when the geometric mean of their frequencies beats the word's own).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import regex

from .errors import FormatError, InvalidInputError

_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+")
FORMAT = "tokenlab-presegmented"


def _pieces(text: str, cuts: Iterable[int]) -> list[str]:
    edges = [0, *sorted({c for c in cuts if 0 < c < len(text)}), len(text)]
    return [text[a:b] for a, b in zip(edges, edges[1:]) if b > a]


class AnalyserSegmenter:
    """Cuts at every morpheme boundary a :class:`~tokenlab.evaluate.linguistic.Analyser` finds inside words."""

    def __init__(self, analyser):
        self.analyser = analyser
        self.spec = getattr(analyser, "name", "analyser")

    def __call__(self, text: str) -> list[str]:
        if not text:
            return []
        return _pieces(text, [b for w in self.analyser.analyse(text) for b in w.boundaries])


class CompoundSplitter:
    """Splits words into known words (each at least ``min_part`` characters, occurring at least
    ``min_count`` times) when the geometric mean of the parts' counts is larger than the word's count.
    Case is kept: parts are matched lower-cased, the text is cut at their lengths."""

    spec = "compound"

    def __init__(self, counts: dict[str, int], min_part: int = 3, min_count: int = 2, max_parts: int = 3):
        self.counts = {w: c for w, c in counts.items() if c >= min_count}
        self.min_part, self.max_parts = min_part, max_parts
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def from_texts(cls, texts: Iterable[str], **kw) -> CompoundSplitter:
        return cls(dict(Counter(m.group().lower() for t in texts for m in _WORD.finditer(t))), **kw)

    def split_word(self, word: str) -> list[str]:
        low = word.lower()
        hit = self._cache.get(low)
        if hit is None:
            best, score = [low], float(self.counts.get(low, 0))
            for parts in self._splits(low, self.max_parts):
                s = math.exp(sum(math.log(self.counts[p]) for p in parts) / len(parts))
                if s > score:
                    best, score = parts, s
            hit = best
            self._cache[low] = hit
        out, pos = [], 0
        for p in hit:
            out.append(word[pos:pos + len(p)])
            pos += len(p)
        return out

    def _splits(self, word: str, max_parts: int) -> Iterator[list[str]]:
        if max_parts < 2:
            return
        for k in range(self.min_part, len(word) - self.min_part + 1):
            head, tail = word[:k], word[k:]
            if head not in self.counts:
                continue
            if tail in self.counts:
                yield [head, tail]
            for rest in self._splits(tail, max_parts - 1):
                yield [head, *rest]

    def __call__(self, text: str) -> list[str]:
        cuts = []
        for m in _WORD.finditer(text):
            pos = m.start()
            for part in self.split_word(m.group())[:-1]:
                pos += len(part)
                cuts.append(pos)
        return _pieces(text, cuts)

    def to_dict(self) -> dict:
        return {"counts": self.counts, "min_part": self.min_part, "max_parts": self.max_parts}


def get_segmenter(spec: str, texts: Sequence[str] = ()) -> Callable[[str], list[str]]:
    """``compound`` (learnt from ``texts``), or an analyser spec of :func:`~tokenlab.evaluate.linguistic.analyser_for`
    (``ko``, ``kiwi``, ``ja``, ``zh_Hans``, ``tr``, ``ru``, ``morfessor``)."""
    if spec == "compound":
        return CompoundSplitter.from_texts(texts)
    from .evaluate.linguistic import analyser_for

    seg = AnalyserSegmenter(analyser_for(spec, texts))
    seg.spec = spec
    return seg


class PresegmentedTokenizer:
    """A tokenizer that encodes each pre-segmented piece on its own; ids and decode are the base's."""

    def __init__(self, base, segmenter: Callable[[str], list[str]], name: str = ""):
        self.base, self.segmenter = base, segmenter
        self.name = name or f"{getattr(base, 'name', '') or 'tokenizer'}+{getattr(segmenter, 'spec', 'seg')}"
        self.special_tokens = getattr(base, "special_tokens", {})

    def __getattr__(self, attr):  # vocab, token_bytes, decode_bytes, n_vocab ... come from the base
        if attr in ("base", "segmenter"):
            raise AttributeError(attr)
        return getattr(self.base, attr)

    def __len__(self) -> int:
        return len(self.base)

    def __repr__(self) -> str:
        return f"PresegmentedTokenizer({self.base!r}, segmenter={getattr(self.segmenter, 'spec', '?')!r})"

    def encode_ordinary(self, text: str) -> list[int]:
        enc = getattr(self.base, "encode_ordinary", None) or self.base.encode
        out: list[int] = []
        for piece in self.segmenter(text):
            out.extend(int(i) for i in enc(piece))
        return out

    def encode(self, text: str, **kwargs) -> list[int]:
        if kwargs.get("allowed_special") or self.special_tokens:
            from .specials import split_special

            ids: list[int] = []
            for part in split_special(self.special_tokens, text, kwargs.get("allowed_special", ()),
                                      kwargs.get("disallowed_special", "all")):
                ids.extend([part] if isinstance(part, int) else self.encode_ordinary(part))
            return ids
        return self.encode_ordinary(text)

    def decode(self, ids, errors: str = "replace") -> str:
        return self.base.decode(ids, errors=errors) if errors != "replace" else self.base.decode(ids)

    def to_dict(self) -> dict:
        seg = self.segmenter
        return {"format": FORMAT, "name": self.name, "segmenter": getattr(seg, "spec", ""),
                "compound": seg.to_dict() if isinstance(seg, CompoundSplitter) else None,
                "base": self.base.to_dict()}

    def save(self, path) -> None:
        from .io.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict()))


def load_presegmented(path) -> PresegmentedTokenizer:
    """Read a pre-segmented tokenizer (the analyser is rebuilt from its name; it must be installed)."""
    from .io import JSON_FORMATS

    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        base_d, spec = d["base"], d["segmenter"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise FormatError(f"{path}: not a {FORMAT} file ({exc})") from None
    fmt = base_d.get("format")
    if fmt in JSON_FORMATS:
        import importlib

        module, _ = JSON_FORMATS[fmt].split(":")
        mod = importlib.import_module(module)
        cls = next(v for v in vars(mod).values() if isinstance(v, type) and hasattr(v, "from_dict")
                   and getattr(v, "__module__", "") == mod.__name__)
        base = cls.from_dict(base_d)
    else:
        from .tokenizer import Tokenizer

        base = Tokenizer.from_dict(base_d)
    if spec == "compound":
        c = d.get("compound") or {}
        seg = CompoundSplitter(c.get("counts", {}), min_part=c.get("min_part", 3), min_count=1,
                               max_parts=c.get("max_parts", 3))
    else:
        seg = get_segmenter(spec)
    return PresegmentedTokenizer(base, seg, name=d.get("name", ""))


def train_presegmented(corpus: Iterable[str], segmenter: Callable[[str], list[str]], algorithm: str = "bpe",
                       vocab_size: int = 8000, **kw) -> PresegmentedTokenizer:
    """Train ``algorithm`` (``bpe`` or ``unigram``) on the pieces, so no token crosses a piece boundary."""
    from .train.bpe import train_bpe
    from .train.unigram import train_unigram

    trainers = {"bpe": train_bpe, "unigram": train_unigram}
    if algorithm not in trainers:
        raise InvalidInputError(f"algorithm must be one of {sorted(trainers)}, got {algorithm!r}")
    docs = list(corpus)
    base = trainers[algorithm]((p for d in docs for p in segmenter(d)), vocab_size=vocab_size, **kw)
    return PresegmentedTokenizer(base, segmenter)


def _register() -> None:
    from .io import JSON_FORMATS

    JSON_FORMATS.setdefault(FORMAT, "tokenlab.presegment:load_presegmented")


_register()
