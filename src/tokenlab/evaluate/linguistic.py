"""Linguistic evaluation: do a tokenizer's boundaries fall where a morphological analyser puts them?

* **Boundary precision / recall / F1** (the morphology suites of "Greed is All You Need" and
  "Analyzing Cognitive Plausibility of Subword Tokenization"): inside each word, the token
  boundaries are compared with the analyser's morpheme boundaries; counts are summed over all
  words (micro average). A boundary that falls inside a UTF-8 character can never be a morpheme
  boundary and counts as a false positive.
* **%TR** ("Tokenization Standards for Linguistic Integrity: Turkish as a Benchmark"): the share
  of the distinct tokens (leading/trailing whitespace stripped, lower-cased) that are valid units
  of the language: a word the analyser recognises, or a morpheme the analyser produced on the
  evaluated text.
* **%Pure** (same paper, as "tokens that do not cross a morpheme boundary"): the share of the
  distinct tokens that, at every occurrence, lie inside one morpheme of one word.

Analysers are optional and imported lazily; each ships its data on PyPI (``pip install
'tokenlab[linguistic]'``): ``zeyrek`` (Turkish), ``kiwipiepy`` (Korean morphemes), ``fugashi`` +
``unidic-lite`` (Japanese words), ``jieba`` (Chinese words), ``pymorphy3`` (Russian stem | ending)
and ``morfessor`` (unsupervised, any language, trained on the evaluated text). A hand-made gold
standard is written as words with ``+`` between morphemes (``ev+ler+imiz+den kitap+lar``).
"""

from __future__ import annotations

import bisect
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import regex

from ..errors import InvalidInputError
from .metrics import _char_to_byte_offsets, as_encoder

_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+")
_SPACE_BYTES = b" \t\n\r\x0b\x0c"
_METASPACE = "\u2581".encode()


@dataclass(frozen=True)
class Word:
    """A word of the evaluated text: character span and the absolute character offsets of its
    internal morpheme boundaries; ``morphemes`` are their surface forms (for %TR)."""

    start: int
    end: int
    boundaries: tuple[int, ...]
    morphemes: tuple[str, ...] = ()


class Analyser:
    """Segments text into words with morpheme boundaries. Subclasses implement :meth:`segment`
    (one word -> its morphemes, concatenating to the word) or override :meth:`analyse`."""

    name = "analyser"
    language = ""

    def segment(self, word: str) -> list[str] | None:
        raise NotImplementedError

    def analyse(self, text: str) -> list[Word]:
        out = []
        for m in _WORD.finditer(text):
            morphs = self.segment(m.group())
            if not morphs or "".join(morphs).lower() != m.group().lower():
                continue  # unknown word, or the analysis does not spell the surface: no gold for it
            out.append(_word(m.start(), morphs))
        return out

    def is_word(self, text: str) -> bool:
        """Is ``text`` a word of the language? (Analysers without a lexicon say no; %TR then counts
        only the morphemes and words seen in the analysed text.)"""
        return False


def _word(start: int, morphs: Sequence[str]) -> Word:
    cuts, pos = [], start
    for m in morphs[:-1]:
        pos += len(m)
        cuts.append(pos)
    return Word(start, start + sum(map(len, morphs)), tuple(cuts), tuple(morphs))


class MarkedGold(Analyser):
    """A hand-made gold standard: ``{"evlerimizden": ["ev", "ler", "imiz", "den"], ...}``; words
    not listed have no gold and are skipped."""

    name = "gold"

    def __init__(self, segmentations: dict[str, Sequence[str]], language: str = ""):
        self.table = {}
        for word, morphs in segmentations.items():
            if "".join(morphs) != word:
                raise InvalidInputError(f"gold segmentation {'+'.join(morphs)!r} does not spell {word!r}")
            self.table[word] = list(morphs)
        self.language = language

    @classmethod
    def from_marked(cls, marked: str, language: str = "") -> tuple[MarkedGold, str]:
        """``"ev+ler+imiz+den kitap+lar"`` -> (gold, "evlerimizden kitaplar")."""
        table = {}
        for item in marked.split():
            morphs = [m for m in item.split("+")]
            if any(not m for m in morphs):
                raise InvalidInputError(f"empty morpheme in {item!r}")
            table["".join(morphs)] = morphs
        return cls(table, language), regex.sub(r"\+", "", marked)

    def segment(self, word: str) -> list[str] | None:
        return self.table.get(word)

    def is_word(self, text: str) -> bool:
        return text in self.table


class ZeyrekAnalyser(Analyser):
    """Turkish (Zemberek's morphotactics, via ``zeyrek``): the first analysis' morpheme surfaces."""

    name, language = "zeyrek", "tr"

    def __init__(self):
        try:
            import zeyrek
        except ImportError:
            raise InvalidInputError("Turkish analysis needs zeyrek: pip install 'tokenlab[linguistic]'") from None
        for name in ("zeyrek", "zeyrek.rulebasedanalyzer", "zeyrek.morphotactics", "zeyrek.lexicon"):
            logging.getLogger(name).setLevel(logging.ERROR)  # it logs every analysis as a warning
        _fix_zeyrek_attribute_cache()
        self._zeyrek = zeyrek.MorphAnalyzer()
        self._cache: dict[str, list[str] | None] = {}

    def _analyses(self, word: str):
        return self._zeyrek._parse(word)  # one word; the public analyze() needs nltk data from the network

    def segment(self, word: str) -> list[str] | None:
        """The segmentation most of the word's analyses give (ties: the smaller tuple): zeyrek's order of
        analyses follows set iteration, which changes with the hash seed."""
        if word not in self._cache:
            votes: Counter = Counter()
            for a in self._analyses(word):
                surfaces = tuple(surface for _, surface in a.morphemes if surface)
                if len("".join(surfaces)) == len(word):
                    votes[surfaces] += 1
            best = min(votes, key=lambda seg: (-votes[seg], seg)) if votes else None
            self._cache[word] = None if best is None else _respell(word, best)
        return self._cache[word]

    def is_word(self, text: str) -> bool:
        return bool(text) and _WORD.fullmatch(text) is not None and bool(self._analyses(text))


def _fix_zeyrek_attribute_cache() -> None:
    """zeyrek caches ``calculate_phonetic_attributes`` and hands every caller the same mutable set, which some
    callers then change; which analyses a word gets then depends on the order lexicon items are built in, and
    so on the hash seed. Give each caller its own copy of the cached value (once per process)."""
    import zeyrek.attributes as attributes
    import zeyrek.morphotactics as morphotactics
    import zeyrek.rulebasedanalyzer as rulebasedanalyzer

    if getattr(morphotactics.calculate_phonetic_attributes, "_tokenlab_copy", False):
        return
    compute = getattr(attributes.calculate_phonetic_attributes, "__wrapped__", None)
    if compute is None:
        return  # not the cached function this works around

    import functools

    @functools.cache
    def frozen(word, predecessor_attrs=None):
        return frozenset(compute(word, predecessor_attrs))

    def fresh(word, predecessor_attrs=None):
        return set(frozen(word, predecessor_attrs))

    fresh._tokenlab_copy = True
    for module in (attributes, morphotactics, rulebasedanalyzer):
        module.calculate_phonetic_attributes = fresh


def _respell(word: str, morphs: Sequence[str]) -> list[str]:
    """Cut ``word`` at the lengths of ``morphs`` (analysers lower-case; the text keeps its case)."""
    out, pos = [], 0
    for m in morphs:
        out.append(word[pos:pos + len(m)])
        pos += len(m)
    return out


class KiwiAnalyser(Analyser):
    """Korean morphemes (``kiwipiepy``). A contracted syllable (갔 = 가 + 었) holds no boundary."""

    name, language = "kiwi", "ko"

    def __init__(self):
        try:
            import kiwipiepy
        except ImportError:
            raise InvalidInputError("Korean analysis needs kiwipiepy: pip install 'tokenlab[linguistic]'") from None
        self._kiwi = kiwipiepy.Kiwi()

    def analyse(self, text: str) -> list[Word]:
        morphs = [(t.start, t.start + t.len, t.form) for t in self._kiwi.tokenize(text)]
        return _words_from_units(text, morphs)


def _words_from_units(text: str, units: list[tuple[int, int, str]]) -> list[Word]:
    """Words (maximal letter/digit runs) with boundaries where an analyser unit starts inside them
    and no other unit spans across that point."""
    starts = sorted({s for s, _, _ in units})
    spans = sorted((s, e) for s, e, _ in units)
    out = []
    for m in _WORD.finditer(text):
        a, b = m.start(), m.end()
        cuts = []
        for s in starts[bisect.bisect_right(starts, a):bisect.bisect_left(starts, b)]:
            if not any(x < s < y for x, y in spans):
                cuts.append(s)
        edges = [a, *cuts, b]
        out.append(Word(a, b, tuple(cuts), tuple(text[x:y] for x, y in zip(edges, edges[1:]))))
    return out


class FugashiAnalyser(Analyser):
    """Japanese word boundaries (MeCab with UniDic short units, via ``fugashi`` + ``unidic-lite``)."""

    name, language = "fugashi", "ja"

    def __init__(self):
        try:
            import fugashi
        except ImportError:
            raise InvalidInputError("Japanese analysis needs fugashi and unidic-lite: "
                                    "pip install 'tokenlab[linguistic]'") from None
        self._tagger = fugashi.Tagger()

    def analyse(self, text: str) -> list[Word]:
        units, pos = [], 0
        for w in self._tagger(text):
            s = text.find(w.surface, pos)
            if s < 0:
                continue
            units.append((s, s + len(w.surface), w.surface))
            pos = s + len(w.surface)
        return _words_from_units(text, units)


class JiebaAnalyser(Analyser):
    """Chinese word boundaries (``jieba``'s dictionary)."""

    name, language = "jieba", "zh"

    def __init__(self):
        try:
            import jieba
        except ImportError:
            raise InvalidInputError("Chinese analysis needs jieba: pip install 'tokenlab[linguistic]'") from None
        jieba.setLogLevel(logging.ERROR)
        self._jieba = jieba

    def analyse(self, text: str) -> list[Word]:
        return _words_from_units(text, [(s, e, w) for w, s, e in self._jieba.tokenize(text)])

    def is_word(self, text: str) -> bool:
        return text in self._jieba.dt.FREQ if self._jieba.dt.initialized else False


class PymorphyAnalyser(Analyser):
    """Russian stem | inflection (| prefix) from ``pymorphy3``'s paradigm of the most likely parse."""

    name, language = "pymorphy3", "ru"

    def __init__(self):
        try:
            import pymorphy3
        except ImportError:
            raise InvalidInputError("Russian analysis needs pymorphy3: pip install 'tokenlab[linguistic]'") from None
        self._morph = pymorphy3.MorphAnalyzer(lang="ru")

    def _known(self, word: str):
        for p in self._morph.parse(word):
            step = p.methods_stack[0]
            if type(step[0]).__name__ == "DictionaryAnalyzer" and len(step) >= 4:
                return step
        return None

    def segment(self, word: str) -> list[str] | None:
        step = self._known(word.lower())
        if step is None:
            return None
        _, form, para_id, idx = step[:4]
        prefix, _, suffix = self._morph.dictionary.build_paradigm_info(para_id)[idx]
        stem_end = len(form) - len(suffix)
        if len(form) != len(word) or not form.startswith(prefix) or stem_end < len(prefix):
            return None
        parts = [form[:len(prefix)], form[len(prefix):stem_end], form[stem_end:]]
        return _respell(word, [p for p in parts if p])

    def is_word(self, text: str) -> bool:
        return bool(text) and _WORD.fullmatch(text) is not None and self._known(text.lower()) is not None


class MorfessorAnalyser(Analyser):
    """Unsupervised morphs for any language: Morfessor Baseline trained on the words of ``texts``."""

    name = "morfessor"

    def __init__(self, texts: Iterable[str], language: str = "", seed: int = 0):
        try:
            import morfessor
        except ImportError:
            raise InvalidInputError("Morfessor needs morfessor: pip install 'tokenlab[linguistic]'") from None
        import random

        counts = Counter(m.group().lower() for t in texts for m in _WORD.finditer(t))
        if not counts:
            raise InvalidInputError("Morfessor needs text with words to learn from")
        import morfessor.utils

        morfessor.utils.show_progress_bar = False
        state = random.getstate()
        random.seed(seed)  # Morfessor's batch training shuffles with the global generator
        self._model = morfessor.BaselineModel()
        # word types, not tokens: Morfessor's recommended setting for morphology (frequent words stay whole otherwise)
        self._model.load_data([(1, w) for w in sorted(counts)])
        self._model.train_batch()
        random.setstate(state)
        self.language = language

    def segment(self, word: str) -> list[str] | None:
        return _respell(word, self._model.viterbi_segment(word.lower())[0])


ANALYSERS = {"tr": ZeyrekAnalyser, "ko": KiwiAnalyser, "ja": FugashiAnalyser, "zh": JiebaAnalyser,
             "zh_Hans": JiebaAnalyser, "ru": PymorphyAnalyser}
_BY_NAME = {"zeyrek": ZeyrekAnalyser, "kiwi": KiwiAnalyser, "kiwipiepy": KiwiAnalyser, "fugashi": FugashiAnalyser,
            "jieba": JiebaAnalyser, "pymorphy3": PymorphyAnalyser}
_SHARED: dict[type, Analyser] = {}


def analyser_for(spec: str, texts: Iterable[str] = ()) -> Analyser:
    """An analyser by language (``tr``, ``ko``, ``ja``, ``zh_Hans``, ``ru``) or name (``zeyrek``, ...);
    ``morfessor`` or ``morfessor:LANG`` trains on ``texts``. Loaded analysers are shared."""
    if spec.startswith("morfessor"):
        return MorfessorAnalyser(texts, language=spec.partition(":")[2])
    cls = ANALYSERS.get(spec) or _BY_NAME.get(spec)
    if cls is None:
        raise InvalidInputError(f"no morphological analyser for {spec!r}; languages: "
                                f"{', '.join(sorted(ANALYSERS))}; or morfessor[:LANG]")
    if cls not in _SHARED:
        _SHARED[cls] = cls()
    return _SHARED[cls]


# ---------------------------------------------------------------------------- token spans
def token_byte_ends(tok, text: str) -> list[int]:
    """Byte offsets (into ``text``'s UTF-8) where each token ends.

    From the tokens' bytes when they spell the text; otherwise (SentencePiece's "▁", WordPiece's
    "##") from decoding growing prefixes of the ids. Tokens that decode only together (the symbols
    of one Huffman word code) all end where the group ends, so the group counts as one unit."""
    enc = as_encoder(tok)
    ids = enc.encode(text)
    data = text.encode("utf-8")
    if enc.token_bytes is not None:
        ends, pos = [], 0
        try:
            pieces = [enc.token_bytes(i) for i in ids]
        except Exception:  # noqa: BLE001 - tokenizers without byte tokens for some ids
            pieces = None
        if pieces is not None and b"".join(pieces) == data:
            for p in pieces:
                pos += len(p)
                ends.append(pos)
            return ends
    decode = getattr(enc.model, "decode_bytes", None)
    if decode is None and hasattr(enc.model, "decode"):
        decode = lambda ids: enc.model.decode(ids).encode("utf-8")  # noqa: E731
    if decode is None:
        raise InvalidInputError(f"{enc.name}: cannot align tokens to the text (no token bytes, no decode)")
    ends, last, pending = [], 0, 0
    for k in range(1, len(ids) + 1):
        try:
            prefix = decode(ids[:k])
        except InvalidInputError:
            if k == len(ids):
                raise
            pending += 1  # a token that spells nothing alone (a Huffman word's code symbol): it ends with the next
            continue
        if not data.startswith(prefix):
            raise InvalidInputError(f"{enc.name}: decoding does not reproduce the text, so tokens cannot be aligned")
        last = max(last, len(prefix))
        ends.extend([last] * (pending + 1))
        pending = 0
    return ends


# ---------------------------------------------------------------------------- scores
@dataclass
class LinguisticScores:
    """Boundary scores and %TR / %Pure of one tokenizer against one analyser."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    words: int = 0
    tokens: int = 0  # token occurrences that overlap a word
    unique_tokens: int = 0
    tr_tokens: int = 0
    pure_tokens: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else (0.0 if self.tp + self.fp + self.fn else float("nan"))

    @property
    def tr_percent(self) -> float:
        return 100.0 * self.tr_tokens / self.unique_tokens if self.unique_tokens else float("nan")

    @property
    def pure_percent(self) -> float:
        return 100.0 * self.pure_tokens / self.unique_tokens if self.unique_tokens else float("nan")

    def to_dict(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "tr_percent": self.tr_percent,
                "pure_percent": self.pure_percent, "words": self.words, "tokens": self.tokens,
                "unique_tokens": self.unique_tokens, "tp": self.tp, "fp": self.fp, "fn": self.fn}


def boundary_scores(predicted: Iterable[Iterable[int]], gold: Iterable[Iterable[int]]) -> LinguisticScores:
    """Micro-averaged boundary P/R/F1 from per-word sets of boundary positions."""
    out = LinguisticScores()
    for p, g in zip(predicted, gold, strict=True):
        p, g = set(p), set(g)
        out.tp += len(p & g)
        out.fp += len(p - g)
        out.fn += len(g - p)
        out.words += 1
    return out


def _strip(data: bytes, s: int, e: int) -> tuple[int, int]:
    while s < e and data[s] in _SPACE_BYTES:
        s += 1
    while e > s and data[e - 1] in _SPACE_BYTES:
        e -= 1
    if data[s:e].startswith(_METASPACE):
        s += len(_METASPACE)
    return s, e


def morph_scores(tok, texts: str | Iterable[str], analyser: Analyser, *, lexicon: Iterable[str] = ()) -> \
        LinguisticScores:
    """Boundary P/R/F1, %TR and %Pure of ``tok`` on ``texts`` against ``analyser``'s segmentation.

    ``lexicon``: extra valid units of the language for %TR."""
    if isinstance(texts, str):
        texts = [texts]
    enc = as_encoder(tok)
    out = LinguisticScores()
    units = {u.lower() for u in lexicon}
    purity: dict[str, bool] = {}
    for text in texts:
        if not text:
            continue
        words = analyser.analyse(text)
        if not words:
            continue
        data = text.encode("utf-8")
        c2b = _char_to_byte_offsets(text)
        ends = token_byte_ends(enc, text)
        starts = [0, *ends[:-1]]
        for w in words:
            units.update(m.lower() for m in w.morphemes)
            units.add(text[w.start:w.end].lower())
            ws, we = c2b[w.start], c2b[w.end]
            gold = {c2b[b] for b in w.boundaries}
            pred = set(ends[bisect.bisect_right(ends, ws):bisect.bisect_left(ends, we)])
            out.tp += len(pred & gold)
            out.fp += len(pred - gold)
            out.fn += len(gold - pred)
            out.words += 1
        word_starts = [c2b[w.start] for w in words]
        for s, e in zip(starts, ends):
            s, e = _strip(data, s, e)
            if s >= e:
                continue
            k = bisect.bisect_right(word_starts, s) - 1
            inside = k >= 0 and c2b[words[k].end] >= e
            overlaps = inside or any(c2b[w.start] < e and s < c2b[w.end] for w in words[max(k, 0):k + 2])
            if not overlaps:
                continue  # punctuation, or text the analyser had no gold for
            out.tokens += 1
            pure = inside and not any(s < c2b[b] < e for b in words[k].boundaries)
            key = data[s:e].decode("utf-8", "replace").lower()
            purity[key] = purity.get(key, True) and pure
    out.unique_tokens = len(purity)
    tr = [t for t in purity if t in units or analyser.is_word(t)]
    out.tr_tokens = len(tr)
    out.pure_tokens = sum(purity.values())
    out.examples = {"impure": sorted(t for t, p in purity.items() if not p)[:20],
                    "not_tr": sorted(set(purity) - set(tr))[:20]}
    return out


def linguistic_table(tokenizers: dict, texts_by_language: dict[str, Sequence[str]], *,
                     analysers: dict[str, str] | None = None) -> dict[str, dict[str, dict]]:
    """``{tokenizer name: {language: scores dict}}`` for every language with an analyser
    (``analysers`` maps a language to an analyser spec; default: :data:`ANALYSERS`)."""
    out: dict[str, dict[str, dict]] = {name: {} for name in tokenizers}
    for lang, texts in texts_by_language.items():
        spec = (analysers or {}).get(lang, lang)
        analyser = analyser_for(spec, texts)
        for name, tok in tokenizers.items():
            out[name][lang] = {"analyser": analyser.name, **morph_scores(tok, texts, analyser).to_dict()}
    return out


def unigram_vs_bpe(texts: Sequence[str], analyser: Analyser, vocab_sizes: Iterable[int] = (500, 1000, 2000),
                   pretokenizer: str = "gpt2") -> list[dict]:
    """Train BPE and Unigram at each vocab size on ``texts`` and score both against ``analyser`` on the
    same texts: the comparison behind "Unigram aligns better with morphology than BPE" (Bostrom &
    Durrett 2020; the morphology suite of "Greed is All You Need")."""
    from ..train.bpe import train_bpe
    from ..train.unigram import train_unigram

    rows = []
    for v in vocab_sizes:
        for algo, train in (("bpe", train_bpe), ("unigram", train_unigram)):
            tok = train(texts, vocab_size=v, pretokenizer=pretokenizer, progress=False)
            rows.append({"vocab_size": v, "algorithm": algo, **morph_scores(tok, texts, analyser).to_dict()})
    return rows
