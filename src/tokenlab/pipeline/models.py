"""Models: one pre-tokenized piece -> tokens ``(id, token string, start, end)``, offsets in the piece's characters.

BPE, WordPiece, WordLevel and Unigram with HF ``tokenizers``' rules; names and JSON fields are tokenizer.json's.
"""

from __future__ import annotations

import heapq
import random

from ..errors import FormatError
from .fields import flag

Token = tuple[int, str, int, int]


class Model:
    type_name = ""
    vocab: dict[str, int]

    def tokenize(self, text: str) -> list[Token]:
        raise NotImplementedError

    def token_to_id(self, token: str) -> int | None:
        return self.vocab.get(token)

    def id_to_token(self, i: int) -> str | None:
        return self._id_to_token.get(i)

    @property
    def _id_to_token(self) -> dict[int, str]:
        table = self.__dict__.get("_r")
        if table is None:
            table = self.__dict__["_r"] = {i: t for t, i in self.vocab.items()}
        return table

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def to_dict(self) -> dict:
        raise NotImplementedError


def _byte_token(b: int) -> str:
    return f"<0x{b:02X}>"


class BPE(Model):
    """Merges applied lowest rank first; characters missing from the vocabulary become ``<0xNN>`` byte tokens
    (``byte_fallback``) or the unknown token (fused when ``fuse_unk``), or are dropped when there is neither.
    ``dropout``: each merge is skipped with that probability (``seed`` makes it repeatable)."""

    type_name = "BPE"

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]], *, dropout: float | None = None,
                 unk_token: str | None = None, continuing_subword_prefix: str | None = None,
                 end_of_word_suffix: str | None = None, fuse_unk: bool = False, byte_fallback: bool = False,
                 ignore_merges: bool = False, seed: int | None = None):
        self.vocab = {str(t): int(i) for t, i in vocab.items()}
        self.merges = [(str(a), str(b)) for a, b in merges]
        if dropout is not None and not 0.0 <= float(dropout) <= 1.0:
            raise FormatError(f"BPE dropout must be in [0, 1], got {dropout}")
        self.dropout = None if dropout is None else float(dropout)
        self.unk_token = unk_token
        self.continuing_subword_prefix = continuing_subword_prefix
        self.end_of_word_suffix = end_of_word_suffix
        self.fuse_unk, self.byte_fallback, self.ignore_merges = bool(fuse_unk), bool(byte_fallback), bool(ignore_merges)
        self._rng = random.Random(seed)
        cut = len(continuing_subword_prefix) if continuing_subword_prefix else 0
        self.pair_table: dict[tuple[int, int], tuple[int, int]] = {}
        v = self.vocab
        for rank, (a, b) in enumerate(self.merges):
            new = a + b[cut:]
            if a not in v or b not in v or new not in v:
                missing = next(t for t in (a, b, new) if t not in v)
                raise FormatError(f"BPE merge {a!r} + {b!r}: token {missing!r} is missing from the vocabulary")
            self.pair_table[(v[a], v[b])] = (rank, v[new])  # a repeated pair keeps its last rank, as HF
        if unk_token is not None and unk_token not in v:
            self._unk_id = None
        else:
            self._unk_id = v.get(unk_token) if unk_token is not None else None
        self._cache: dict[str, list[Token]] = {}

    def _symbols(self, text: str) -> list[list]:
        """Initial symbols [id, start, end]; as HF, offsets are running sums of the symbols' UTF-8 lengths (a
        byte token counts 1, a dropped character 0), so they are byte offsets into the piece."""
        v, prefix, suffix = self.vocab, self.continuing_subword_prefix, self.end_of_word_suffix
        out: list[list] = []
        unk: list | None = None
        n = len(text)
        pos = 0
        for i, ch in enumerate(text):
            s = ch
            size = len(ch.encode("utf-8", "surrogatepass"))
            if i > 0 and prefix:
                s = prefix + s
            if i == n - 1 and suffix:
                s = s + suffix
            tid = v.get(s)
            if tid is not None:
                if unk is not None:
                    out.append(unk)
                    pos = unk[2]
                    unk = None
                out.append([tid, pos, pos + size])
                pos += size
                continue
            if self.byte_fallback:
                ids = [v.get(_byte_token(b)) for b in s.encode("utf-8", "surrogatepass")]
                if None not in ids:
                    for b in ids:  # HF does not flush a pending unknown here
                        out.append([b, pos, pos + 1])
                        pos += 1
                    continue
            if self.unk_token is not None:
                if self._unk_id is None:
                    raise FormatError(f"BPE unk_token {self.unk_token!r} is not in the vocabulary")
                if unk is not None and self.fuse_unk:
                    unk[2] += size
                else:
                    if unk is not None:
                        out.append(unk)
                        pos = unk[2]
                    unk = [self._unk_id, pos, pos + size]
        if unk is not None:
            out.append(unk)
        return out

    @staticmethod
    def _char_offsets(text: str, tokens: list[list]) -> list[tuple[int, int]]:
        """Byte offsets of the symbols to character offsets of ``text`` (the characters holding those bytes)."""
        if text.isascii():
            return [(s, e) for _, s, e in tokens]
        char_of: list[int] = []
        for k, ch in enumerate(text):
            char_of.extend([k] * len(ch.encode("utf-8", "surrogatepass")))
        last = len(char_of)
        out = []
        for _, s, e in tokens:
            a = char_of[s] if s < last else len(text)
            b = char_of[e - 1] + 1 if 0 < e <= last else a
            out.append((a, max(a, b)))
        return out

    def _merge(self, symbols: list[list]) -> list[list]:
        table = self.pair_table
        n = len(symbols)
        if n < 2:
            return symbols
        nxt = list(range(1, n + 1))
        prev = list(range(-1, n - 1))
        alive = [True] * n
        heap: list[tuple[int, int, int]] = []
        for k in range(n - 1):
            hit = table.get((symbols[k][0], symbols[k + 1][0]))
            if hit is not None:
                heap.append((hit[0], k, hit[1]))
        heapq.heapify(heap)
        dropout = self.dropout if self.dropout else 0.0
        skipped: list[tuple[int, int, int]] = []
        rng = self._rng
        while heap:
            top = heapq.heappop(heap)
            if dropout and rng.random() < dropout:
                skipped.append(top)
                continue
            for item in skipped:
                heapq.heappush(heap, item)
            skipped.clear()
            _, pos, new_id = top
            if not alive[pos] or nxt[pos] >= n:
                continue
            right = nxt[pos]
            hit = table.get((symbols[pos][0], symbols[right][0]))
            if hit is None or hit[1] != new_id:
                continue
            symbols[pos] = [new_id, symbols[pos][1], symbols[right][2]]
            alive[right] = False
            nxt[pos] = nxt[right]
            if nxt[right] < n:
                prev[nxt[right]] = pos
            p = prev[pos]
            if p >= 0:
                hit = table.get((symbols[p][0], new_id))
                if hit is not None:
                    heapq.heappush(heap, (hit[0], p, hit[1]))
            q = nxt[pos]
            if q < n:
                hit = table.get((new_id, symbols[q][0]))
                if hit is not None:
                    heapq.heappush(heap, (hit[0], pos, hit[1]))
        return [s for s, live in zip(symbols, alive) if live]

    def tokenize(self, text: str) -> list[Token]:
        if not text:
            return []
        if self.ignore_merges and text in self.vocab:
            return [(self.vocab[text], text, 0, len(text))]
        use_cache = not self.dropout
        if use_cache:
            hit = self._cache.get(text)
            if hit is not None:
                return hit
        r = self._id_to_token
        merged = self._merge(self._symbols(text))
        out = [(sym[0], r[sym[0]], a, b) for sym, (a, b) in zip(merged, self._char_offsets(text, merged))]
        if use_cache and len(self._cache) < 1 << 17:
            self._cache[text] = out
        return out

    def to_dict(self) -> dict:
        return {"type": "BPE", "dropout": self.dropout, "unk_token": self.unk_token,
                "continuing_subword_prefix": self.continuing_subword_prefix,
                "end_of_word_suffix": self.end_of_word_suffix, "fuse_unk": self.fuse_unk,
                "byte_fallback": self.byte_fallback, "ignore_merges": self.ignore_merges,
                "vocab": dict(sorted(self.vocab.items(), key=lambda kv: kv[1])),
                "merges": [[a, b] for a, b in self.merges]}

    @classmethod
    def from_dict(cls, d: dict, seed: int | None = None) -> BPE:
        if "vocab" not in d or "merges" not in d:
            raise FormatError("BPE model: missing vocab/merges")
        merges = []
        for m in d.get("merges", []):
            if isinstance(m, str):
                parts = m.split(" ")
                if len(parts) != 2:
                    raise FormatError(f"BPE merge {m!r} is not two tokens separated by one space")
                merges.append((parts[0], parts[1]))
            else:
                a, b = m
                merges.append((a, b))
        return cls(d["vocab"], merges, dropout=d.get("dropout"), unk_token=d.get("unk_token"),
                   continuing_subword_prefix=d.get("continuing_subword_prefix"),
                   end_of_word_suffix=d.get("end_of_word_suffix"), fuse_unk=flag(d, "fuse_unk"),
                   byte_fallback=flag(d, "byte_fallback"), ignore_merges=flag(d, "ignore_merges"), seed=seed)


class WordPiece(Model):
    """Greedy longest prefix, continuations spelled with ``continuing_subword_prefix``; a word with a part
    no token matches (or longer than ``max_input_chars_per_word``) is one unknown token."""

    type_name = "WordPiece"

    def __init__(self, vocab: dict[str, int], unk_token: str = "[UNK]", continuing_subword_prefix: str = "##",
                 max_input_chars_per_word: int = 100):
        self.vocab = {str(t): int(i) for t, i in vocab.items()}
        self.unk_token = unk_token
        self.continuing_subword_prefix = continuing_subword_prefix
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self._cache: dict[str, list[Token]] = {}

    def _unk(self, text: str) -> list[Token]:
        uid = self.vocab.get(self.unk_token)
        if uid is None:
            raise FormatError(f"WordPiece unk_token {self.unk_token!r} is not in the vocabulary")
        return [(uid, self.unk_token, 0, len(text))]

    def tokenize(self, text: str) -> list[Token]:
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        out = self._tokenize(text)
        if len(self._cache) < 1 << 17:
            self._cache[text] = out
        return out

    def _tokenize(self, text: str) -> list[Token]:
        if len(text) > self.max_input_chars_per_word:
            return self._unk(text)
        v, prefix = self.vocab, self.continuing_subword_prefix
        out: list[Token] = []
        start, n = 0, len(text)
        while start < n:
            end = n
            found = None
            while start < end:
                piece = text[start:end] if start == 0 else prefix + text[start:end]
                tid = v.get(piece)
                if tid is not None:
                    found = (tid, piece, start, end)
                    break
                end -= 1
            if found is None:
                return self._unk(text)
            out.append(found)
            start = end
        return out

    def to_dict(self) -> dict:
        return {"type": "WordPiece", "unk_token": self.unk_token,
                "continuing_subword_prefix": self.continuing_subword_prefix,
                "max_input_chars_per_word": self.max_input_chars_per_word,
                "vocab": dict(sorted(self.vocab.items(), key=lambda kv: kv[1]))}

    @classmethod
    def from_dict(cls, d: dict) -> WordPiece:
        return cls(d["vocab"], d.get("unk_token", "[UNK]"), d.get("continuing_subword_prefix", "##"),
                   d.get("max_input_chars_per_word", 100))


class WordLevel(Model):
    type_name = "WordLevel"

    def __init__(self, vocab: dict[str, int], unk_token: str | None = None):
        self.vocab = {str(t): int(i) for t, i in vocab.items()}
        self.unk_token = unk_token

    def tokenize(self, text: str) -> list[Token]:
        tid = self.vocab.get(text)
        if tid is not None:
            return [(tid, text, 0, len(text))]
        uid = self.vocab.get(self.unk_token) if self.unk_token is not None else None
        if uid is None:
            from ..errors import InvalidInputError

            raise InvalidInputError(f"WordLevel: {text!r} is not in the vocabulary and there is no unk_token")
        return [(uid, self.unk_token, 0, len(text))]

    def to_dict(self) -> dict:
        return {"type": "WordLevel", "vocab": dict(sorted(self.vocab.items(), key=lambda kv: kv[1])),
                "unk_token": self.unk_token}

    @classmethod
    def from_dict(cls, d: dict) -> WordLevel:
        return cls(d["vocab"], d.get("unk_token"))


class Unigram(Model):
    """Viterbi over the pieces' scores (sentencepiece's / HF's rules: a character no piece starts with is an
    unknown node scoring min - 10, runs of unknown characters are one token); unknown text becomes byte tokens
    with ``byte_fallback``."""

    type_name = "Unigram"

    def __init__(self, pieces: list[tuple[str, float]], unk_id: int | None = None, byte_fallback: bool = False):
        self.pieces = [(str(p), float(s)) for p, s in pieces]
        self.unk_id = None if unk_id is None else int(unk_id)
        self.byte_fallback = bool(byte_fallback)
        self.vocab = {}
        for i, (p, _) in enumerate(self.pieces):
            self.vocab.setdefault(p, i)
        self.scores = {p: self.pieces[i][1] for p, i in self.vocab.items()}
        self._longest = max((len(p) for p in self.vocab), default=1)
        self._unk_score = min((s for _, s in self.pieces), default=0.0) - 10.0
        self._cache: dict[str, list[Token]] = {}

    def tokenize(self, text: str) -> list[Token]:
        if not text:
            return []
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        from ..models.sentencepiece import best_segmentation

        out: list[Token] = []
        pos = 0
        for piece in self._fused(best_segmentation(text, self.scores, self._longest, self._unk_score)):
            end = pos + len(piece)
            tid = self.vocab.get(piece)
            if tid is None:
                ids = [self.vocab.get(_byte_token(b)) for b in piece.encode("utf-8", "surrogatepass")] \
                    if self.byte_fallback else [None]
                if None not in ids:
                    out.extend((b, _byte_token(x), pos, end) for b, x in zip(ids, piece.encode("utf-8")))
                    pos = end
                    continue
                if self.unk_id is None:
                    raise FormatError("Unigram model has no unk_id but the text has unknown characters")
                tid = self.unk_id
            out.append((tid, piece, pos, end))
            pos = end
        if len(self._cache) < 1 << 17:
            self._cache[text] = out
        return out

    def _fused(self, segments) -> list[str]:
        """As HF: consecutive pieces that are unknown, or are the unk piece itself (``<unk>`` written in the
        text), make one string, which is then looked up as a whole (so ``<unk>`` next to an unknown character
        is one unknown token, or byte tokens with byte fallback)."""
        out: list[str] = []
        run = False
        for piece, _known in segments:
            unk = self.unk_id is not None and self.vocab.get(piece, self.unk_id) == self.unk_id
            if unk and run:
                out[-1] += piece
            else:
                out.append(piece)
            run = unk
        return out

    def id_to_token(self, i: int) -> str | None:
        return self.pieces[i][0] if 0 <= i < len(self.pieces) else None

    def to_dict(self) -> dict:
        return {"type": "Unigram", "unk_id": self.unk_id, "vocab": [[p, s] for p, s in self.pieces],
                "byte_fallback": self.byte_fallback}

    @classmethod
    def from_dict(cls, d: dict) -> Unigram:
        return cls([(p, s) for p, s in d["vocab"]], d.get("unk_id"), flag(d, "byte_fallback"))


_MODELS = {"BPE": BPE, "WordPiece": WordPiece, "WordLevel": WordLevel, "Unigram": Unigram}


# the fields HF's parser requires of each model, and their JSON types: a missing or null one is an error there
_REQUIRED = {"BPE": {"vocab": dict, "merges": list},
             "WordPiece": {"vocab": dict, "unk_token": str, "continuing_subword_prefix": str,
                           "max_input_chars_per_word": int},
             "WordLevel": {"vocab": dict, "unk_token": str},
             "Unigram": {"vocab": list}}


def _missing_field(d: dict, kind: str) -> str | None:
    """The first field a ``kind`` model needs that ``d`` lacks (or holds with another type), else None."""
    return next((key for key, kind_of in _REQUIRED[kind].items() if not isinstance(d.get(key), kind_of)), None)


def _untyped_kind(d: dict) -> str:
    """HF reads a model without ``type`` as the first of BPE, WordPiece, WordLevel, Unigram whose fields it has."""
    for kind in ("BPE", "WordPiece", "WordLevel", "Unigram"):
        if _missing_field(d, kind) is None:
            return kind
    raise FormatError("model has no type and is none of HF's: BPE needs vocab and merges, WordPiece vocab, unk_token, "
                      "continuing_subword_prefix and max_input_chars_per_word, WordLevel vocab and unk_token, "
                      "Unigram a vocab list")


def model_from_dict(d: dict, seed: int | None = None) -> Model:
    if not isinstance(d, dict):
        raise FormatError(f"model must be an object, got {type(d).__name__}")
    kind = d.get("type")
    if kind is None:  # old files: the fields tell the kind
        kind = _untyped_kind(d)
    if kind not in _MODELS:
        raise FormatError(f"model {kind!r} is not supported")
    missing = _missing_field(d, kind) if kind in ("WordPiece", "WordLevel") else None
    if missing:  # HF has no defaults for these
        raise FormatError(f"model {kind!r} needs the field {missing!r}")
    try:
        if kind == "BPE":
            return BPE.from_dict(d, seed=seed)
        return _MODELS[kind].from_dict(d)
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"model {kind!r} is corrupt ({exc!r})") from None
