"""HF ``tokenizer.json`` BPE models over characters with "▁" for spaces (Llama / Mistral-v0.1 / Gemma style).

These files are what `transformers` converts SentencePiece BPE models into: a normalizer that prepends
"▁" and replaces spaces (or a ``Metaspace`` pre-tokenizer), a BPE over characters with ranked merges and
``byte_fallback`` (``<0xNN>`` tokens for characters outside the vocabulary), and a decoder that turns "▁"
back into spaces and drops the first one. This module follows HF ``tokenizers``' semantics for exactly
those pieces; `tokenlab.io.hf_metaspace` reads the files and refuses anything else with a clear error.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections.abc import Iterable
from functools import cached_property
from typing import Literal

from ..errors import FormatError, InvalidInputError
from ..pretokenize import get_pretokenizer
from .base import ModelBase, unb64
from .sentencepiece import best_segmentation, last_word_offset, pieces_span_word_starts

FORMAT = "tokenlab-metaspace-bpe"
SPACE = "\u2581"
_BYTE_TOKEN = re.compile(r"<0x([0-9A-F]{2})>")
_UNICODE_FORMS = {"NFC", "NFD", "NFKC", "NFKD"}


class MetaspaceBPE(ModelBase):
    """``vocab``: token string -> id; ``merges``: ranked pairs of token strings; ``normalizers`` and
    ``metaspace`` as parsed from the file (see :func:`from_hf_dict`)."""

    format_name = FORMAT

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]], *, normalizers: list[dict] = (),
                 metaspace: dict | None = None, byte_fallback: bool = False, unk_token: str | None = None,
                 fuse_unk: bool = False, ignore_merges: bool = False, special_tokens: dict[str, int] | None = None,
                 strip_decoded: Literal["none", "fused", "first_token"] = "none",
                 added_tokens: dict[str, tuple[int, bool]] | None = None, byte_decoder: bool | None = None,
                 name: str = ""):
        from ..io.validate import check_ids, id_limit

        self.token_to_id = check_ids(((str(t), i) for t, i in vocab.items()), "", "vocab",
                                     limit=id_limit(len(vocab)))
        self.merge_list = [(str(a), str(b)) for a, b in merges]
        self.normalizers = [dict(n) for n in normalizers]
        self.metaspace = dict(metaspace) if metaspace else None
        self.byte_fallback = bool(byte_fallback)
        self.unk_token = unk_token
        self.fuse_unk = bool(fuse_unk)
        self.ignore_merges = bool(ignore_merges)
        self.special_tokens = dict(special_tokens or {})
        self.strip_decoded = strip_decoded
        # whether decode turns <0xNN> tokens into their byte (HF: a ByteFallback decoder) or shows their text
        self.byte_decoder = self.byte_fallback if byte_decoder is None else bool(byte_decoder)
        # non-special added tokens (sentencepiece's user-defined symbols): content -> (id, matched after the
        # normalizer); always one token wherever they occur, as in HF
        self.added_tokens = {str(t): (int(i), bool(norm)) for t, (i, norm) in (added_tokens or {}).items()}
        self._raw_added = _alternation([t for t, (_, norm) in self.added_tokens.items() if not norm])
        self._normalized_added = _alternation([t for t, (_, norm) in self.added_tokens.items() if norm])
        self.name = name
        self.pretokenizer = get_pretokenizer(None)
        for n in self.normalizers:
            if n.get("type") not in ("Prepend", "Replace", "ReplaceRegex", "Precompiled", "Lowercase",
                                     *_UNICODE_FORMS):
                raise FormatError(f"normalizer {n.get('type')!r} is not supported")
        self._compiled = [_compile_step(n) for n in self.normalizers]
        self.unk_id = self.token_to_id.get(unk_token) if unk_token is not None else None
        if unk_token is not None and self.unk_id is None:
            raise FormatError(f"unk_token {unk_token!r} is not in the vocabulary")
        self.byte_to_id = {int(m.group(1), 16): i for t, i in self.token_to_id.items()
                           if (m := _BYTE_TOKEN.fullmatch(t))}
        if self.byte_fallback and 0 < len(self.byte_to_id) < 256:
            # HF places the unknown token oddly when some byte tokens are missing; real files have all 256
            raise FormatError(f"model.byte_fallback needs all 256 <0xNN> tokens, found {len(self.byte_to_id)}")
        self.ranks: dict[tuple[str, str], int] = {}
        for rank, (a, b) in enumerate(self.merge_list):
            if a not in self.token_to_id or b not in self.token_to_id or a + b not in self.token_to_id:
                raise FormatError(f"merge {a!r} + {b!r} refers to a token missing from the vocabulary")
            self.ranks[(a, b)] = rank  # a repeated merge keeps its last rank, as in HF tokenizers
        self._cache: dict[str, tuple[int, ...]] = {}

    def __repr__(self) -> str:
        return f"MetaspaceBPE(vocab={len(self.token_to_id)}, merges={len(self.merge_list)}, name={self.name!r})"

    # ------------------------------------------------------------------ tables
    @property
    def vocab(self) -> dict[bytes, int]:
        """Token bytes -> id ("▁" as a space, ``<0xNN>`` as its byte), specials left out; where a character
        token and a byte token spell the same byte, the character token (as in the SentencePiece view)."""
        specials, byte_ids = self.special_ids, set(self.byte_to_id.values()) if self.byte_fallback else set()
        out: dict[bytes, int] = {}
        for token, i in self.token_to_id.items():
            if i not in specials and i not in byte_ids:
                out.setdefault(self._token_bytes_of(token), i)
        for b, i in self.byte_to_id.items() if self.byte_fallback else ():
            out.setdefault(bytes([b]), i)  # a byte token whose byte is also a character token is left out
        return out

    @property
    def merges(self) -> list[tuple[bytes, bytes]]:
        return [(self._token_bytes_of(a), self._token_bytes_of(b)) for a, b in self.merge_list]

    def _token_bytes_of(self, token: str) -> bytes:
        m = _BYTE_TOKEN.fullmatch(token)
        return bytes([int(m.group(1), 16)]) if m and self.byte_fallback else token.replace(self._space, " ").encode()

    @property
    def _space(self) -> str:
        """The character that stands for a space in tokens: the Metaspace replacement (HF's decoder maps it back)."""
        return self.metaspace["replacement"] if self.metaspace else SPACE

    def _id_to_bytes_table(self):
        # added tokens outside the model's vocab (a Unigram file's, numbered after its pieces) decode to their text
        outside = {i: t for t, (i, _) in self.added_tokens.items() if t not in self.token_to_id}
        size = max([*self.token_to_id.values(), *outside], default=-1) + 1
        table: list[bytes | None] = [None] * size
        for i, token in outside.items():
            table[i] = token.encode()
        for token, i in self.token_to_id.items():
            table[i] = self._token_bytes_of(token)
        return table

    # ------------------------------------------------------------------ encode
    def encode_ordinary(self, text: str) -> list[int]:
        return self._encode_segment(text, first=True)

    def _encode_segment(self, text: str, first: bool) -> list[int]:
        """The Metaspace "first" scheme prepends "▁" only to text at the very start of the input."""
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be str, got {type(text).__name__}")
        if self._raw_added is None and self._normalized_added is None:
            return self._encode_normalized(self.normalize(text), first)
        ids: list[int] = []
        for k, raw in enumerate(_split_on(self._raw_added, text)):
            if isinstance(raw, _Added):
                ids.append(self.added_tokens[raw.content][0])
                continue
            for j, part in enumerate(_split_on(self._normalized_added, self.normalize(raw))):
                if isinstance(part, _Added):
                    ids.append(self.added_tokens[part.content][0])
                else:
                    ids.extend(self._encode_normalized(part, first and k == 0 and j == 0))
        return ids

    def _encode_normalized(self, text: str, first: bool) -> list[int]:
        words = self._pre_tokenize(text, first)
        ids: list[int] = []
        cache = self._cache
        for word in words:
            got = cache.get(word)
            if got is None:
                got = tuple(self._encode_word(word))
                if len(cache) < 1 << 18:
                    cache[word] = got
            ids.extend(got)  # HF fuses unknowns within a word only
        return ids

    def normalize(self, text: str) -> str:
        for n, compiled in zip(self.normalizers, self._compiled):
            kind = n["type"]
            if kind == "Prepend":
                text = n["prepend"] + text if text else text
            elif kind == "Replace":
                text = text.replace(n["pattern"], n["content"])
            elif kind == "ReplaceRegex":
                text = _guarded_sub(compiled, n["content"], text)
            elif kind == "Precompiled":
                text = compiled.normalize_graphemes(text)
            elif kind == "Lowercase":
                text = text.lower()
            else:
                text = unicodedata.normalize(kind, text)
        return text

    def _pre_tokenize(self, text: str, first: bool) -> list[str]:
        meta = self.metaspace
        if meta is None:
            return [text] if text else []
        if meta.get("whitespace_split"):  # words without their whitespace, each then given its "▁"
            # HF's "first" scheme prepends only to the word at the start of the text, not one after whitespace
            first = first and not text[:1].isspace()
            return [w for k, word in enumerate(text.split()) for w in self._metaspace_words(word, first and k == 0)]
        return self._metaspace_words(text, first)

    def _metaspace_words(self, text: str, first: bool) -> list[str]:
        meta = self.metaspace
        replacement = meta["replacement"]
        text = text.replace(" ", replacement)
        scheme = meta["prepend_scheme"]
        if text and (scheme == "always" or (scheme == "first" and first)) and not text.startswith(replacement):
            text = replacement + text
        if not meta["split"]:
            return [text] if text else []
        words, start = [], 0
        for i in range(1, len(text)):
            if text[i] == replacement:  # the replacement opens the next word (MergedWithNext)
                words.append(text[start:i])
                start = i
        if text:
            words.append(text[start:])
        return words

    def encode_token_text(self, text: str) -> list[int]:
        """Ids of a token's own text inside normalized text (no normalizer, no prepended "▁"): a token is
        reachable when this gives the token itself (what token-health checks ask)."""
        replacement = self.metaspace["replacement"] if self.metaspace else SPACE
        return self._encode_word(text.replace(" ", replacement))

    def healing_start(self, prompt: str) -> int | None:
        """Where the prompt's last word starts, counted in the bytes its tokens spell; None when that is not
        stable under continuation (normalizers beyond Prepend / one-character Replace, added tokens,
        pieces spanning a word start without a splitting pre-tokenizer)."""
        if (self.added_tokens or any(special in prompt for special in self.special_tokens)
                or any(n["type"] not in ("Prepend", "Replace") or (n["type"] == "Replace" and len(n["pattern"]) != 1)
                       for n in self.normalizers)):
            return None
        replacement = self.metaspace["replacement"] if self.metaspace else SPACE
        if not (self.metaspace and self.metaspace["split"]) and not self._no_piece_spans_word_start:
            return None
        text = self.normalize(prompt)
        if self.metaspace:
            text = "".join(self._pre_tokenize(text, first=True))
        return last_word_offset(text, replacement)

    @cached_property
    def _no_piece_spans_word_start(self) -> bool:
        replacement = self.metaspace["replacement"] if self.metaspace else SPACE
        return not pieces_span_word_starts(self.token_to_id, replacement)

    def _encode_word(self, word: str) -> list[int]:
        return self._bpe(word)

    def _bpe(self, word: str) -> list[int]:
        """HF BPE on one word: characters (unknown ones as byte tokens or unk), lowest-rank pair first."""
        to_id = self.token_to_id
        if self.ignore_merges and word in to_id:
            return [to_id[word]]
        symbols: list[str | int] = []  # token strings; an int is a final id (byte fallback / unk)
        for ch in word:
            if ch in to_id:
                symbols.append(ch)
            elif self.byte_fallback and all(b in self.byte_to_id for b in ch.encode("utf-8")):
                symbols.extend(self.byte_to_id[b] for b in ch.encode("utf-8"))
            elif self.unk_id is not None:
                if not (self.fuse_unk and symbols and symbols[-1] == self.unk_id):
                    symbols.append(self.unk_id)
            # else: HF drops a character it can neither find nor replace (no unk_token), and so do we
        n = len(symbols)
        nxt = list(range(1, n + 1))
        prev = list(range(-1, n - 1))
        ranks = self.ranks
        heap: list[tuple[int, int, str, str]] = []

        def push(left: int, right: int) -> None:
            if left < 0 or right >= n or right < 0:
                return
            a, b = symbols[left], symbols[right]
            if isinstance(a, str) and isinstance(b, str):
                rank = ranks.get((a, b))
                if rank is not None:
                    heapq.heappush(heap, (rank, left, a, b))

        for k in range(n - 1):
            push(k, k + 1)
        alive = [True] * n
        while heap:
            _, left, a, b = heapq.heappop(heap)
            right = nxt[left] if left < n else n
            if not alive[left] or right >= n or symbols[left] != a or symbols[right] != b:
                continue
            symbols[left] = a + b
            alive[right] = False
            nxt[left] = nxt[right]
            if nxt[right] < n:
                prev[nxt[right]] = left
            push(prev[left], left)
            push(left, nxt[left])
        return [s if isinstance(s, int) else to_id[s] for s, live in zip(symbols, alive) if live]

    # ------------------------------------------------------------------ decode
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        ids = self._checked_ids(ids)
        table, shown_as_text = self.id_to_bytes, self._byte_ids if self.byte_fallback and not self.byte_decoder else ()
        data = b"".join(self._id_to_token[i].encode() if i in shown_as_text else table[i] for i in ids)
        if self.strip_decoded == "fused" or (self.strip_decoded == "first_token" and ids
                                             and self._id_to_token[ids[0]].startswith(self._space)):
            return data[1:] if data.startswith(b" ") else data
        return data

    @cached_property
    def _byte_ids(self) -> set[int]:
        return set(self.byte_to_id.values())

    @cached_property
    def _id_to_token(self) -> dict[int, str]:
        table = {i: t for t, i in self.token_to_id.items()}
        for t, i in [*self.special_tokens.items(), *((t, i) for t, (i, _) in self.added_tokens.items())]:
            table.setdefault(i, t)  # specials and added tokens outside the model's vocab (Unigram files)
        return table

    # ------------------------------------------------------------------ files
    def to_hf_dict(self) -> dict:
        """The tokenizer.json this model stands for (the file it was read from, else rebuilt from its fields)."""
        return self.__dict__.get("_hf_source") or to_hf_dict(self)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": 1, "name": self.name, "vocab": self.token_to_id,
                "added_tokens": {t: list(v) for t, v in self.added_tokens.items()},
                "merges": [list(m) for m in self.merge_list], "normalizers": self.normalizers,
                "metaspace": self.metaspace, "byte_fallback": self.byte_fallback, "unk_token": self.unk_token,
                "fuse_unk": self.fuse_unk, "ignore_merges": self.ignore_merges,
                "special_tokens": self.special_tokens, "strip_decoded": self.strip_decoded,
                "byte_decoder": self.byte_decoder}

    @classmethod
    def from_dict(cls, d: dict) -> MetaspaceBPE:
        return cls(d["vocab"], [tuple(m) for m in d["merges"]], normalizers=d["normalizers"],
                   metaspace=d["metaspace"], byte_fallback=d["byte_fallback"], unk_token=d["unk_token"],
                   fuse_unk=d["fuse_unk"], ignore_merges=d["ignore_merges"], special_tokens=d["special_tokens"],
                   strip_decoded=d["strip_decoded"], added_tokens={t: tuple(v) for t, v in d["added_tokens"].items()},
                   byte_decoder=d.get("byte_decoder"), name=d.get("name", ""))


class _Added(str):
    """An added token found in text (a str subclass so the splitter can return text and tokens in one list)."""

    @property
    def content(self) -> str:
        return str(self)


def _alternation(contents: list[str]):
    if not contents:
        return None
    return re.compile("|".join(re.escape(c) for c in sorted(contents, key=len, reverse=True)))


def _split_on(pattern, text: str) -> list:
    """Text pieces (str) and added tokens (_Added) in order; empty text pieces dropped."""
    if pattern is None:
        return [text] if text else []
    out: list = []
    start = 0
    for m in pattern.finditer(text):
        if m.start() > start:
            out.append(text[start:m.start()])
        out.append(_Added(m.group()))
        start = m.end()
    if start < len(text):
        out.append(text[start:])
    return out


class MetaspaceUnigram(MetaspaceBPE):
    """HF ``Unigram`` models (T5 / XLM-R / ALBERT style tokenizer.json): ``scores`` per token, Viterbi per word
    with HF's rules (unknown characters score min - 10 and a run of them is one unknown token)."""

    format_name = "tokenlab-metaspace-unigram"

    def __init__(self, vocab: dict[str, int], scores: dict[str, float], **kwargs):
        super().__init__(vocab, [], **kwargs)
        self.scores = {str(t): float(v) for t, v in scores.items() if t in self.token_to_id}
        missing = sorted((t for t in self.token_to_id if t not in self.scores), key=self.token_to_id.__getitem__)
        if missing:  # a piece without a score could never be chosen here, yet HF would read the export's default
            raise FormatError(f"scores: piece {missing[0]!r} has no score ({len(missing)} without one)")
        self._longest = max(map(len, self.token_to_id), default=1)
        self._unk_score = min(self.scores.values(), default=0.0) - 10.0

    def _encode_word(self, word: str) -> list[int]:
        # HF fuses every run of lattice nodes whose id is the unknown id (unknown characters and the unknown
        # piece's own text, e.g. "<unk>" typed in the input) into one string, then looks that string up
        strings: list[str] = []
        fusing = False
        to_id, unk_id = self.token_to_id, self.unk_id
        for piece, known in best_segmentation(word, self.scores, self._longest, self._unk_score):
            is_unk = not known or (unk_id is not None and to_id[piece] == unk_id)
            if is_unk and fusing:
                strings[-1] += piece
            else:
                strings.append(piece)
            fusing = is_unk
        ids: list[int] = []
        for piece in strings:
            pid = to_id.get(piece)
            if pid is not None:
                ids.append(pid)
            elif self.byte_fallback and all(b in self.byte_to_id for b in piece.encode("utf-8")):
                ids.extend(self.byte_to_id[b] for b in piece.encode("utf-8"))
            elif unk_id is not None:
                ids.append(unk_id)
        return ids

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["format"] = self.format_name
        d["scores"] = self.scores
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MetaspaceUnigram:
        return cls(d["vocab"], d["scores"], normalizers=d["normalizers"], metaspace=d["metaspace"],
                   byte_fallback=d["byte_fallback"], unk_token=d["unk_token"], fuse_unk=d["fuse_unk"],
                   special_tokens=d["special_tokens"], strip_decoded=d["strip_decoded"],
                   added_tokens={t: tuple(v) for t, v in d["added_tokens"].items()},
                   byte_decoder=d.get("byte_decoder"), name=d.get("name", ""))


def load_metaspace_unigram(path) -> MetaspaceUnigram:
    return MetaspaceUnigram.load(path)


def _guarded_sub(compiled, content: str, text: str) -> str:
    """A ReplaceRegex normalizer from a file, under the pre-tokenizer's time limit (no ReDoS hang)."""
    from ..pretokenize import regex_timeout

    try:
        return compiled.sub(lambda _: content, text, timeout=regex_timeout(len(text)))
    except TimeoutError:
        raise InvalidInputError(f"normalizer pattern {compiled.pattern[:80]!r} timed out (catastrophic "
                                "backtracking)") from None


def _compile_step(step: dict):
    if step["type"] == "ReplaceRegex":
        import regex

        return regex.compile(step["pattern"])
    if step["type"] == "Precompiled":
        from .sentencepiece import CharsMap

        return CharsMap(unb64(step["precompiled_charsmap"]))
    return None


def load_metaspace_bpe(path) -> MetaspaceBPE:
    return MetaspaceBPE.load(path)


# ---------------------------------------------------------------------- HF tokenizer.json (read in io/)
def is_metaspace_bpe(d: dict) -> bool:
    """A tokenizer.json this module's models read exactly (`tokenlab.io.hf_metaspace`)."""
    from ..io.hf_metaspace import is_metaspace_bpe as check

    return check(d)


def to_hf_dict(tok: MetaspaceBPE) -> dict:
    """Such a tokenizer.json for the model (`tokenlab.io.hf_metaspace`)."""
    from ..io.hf_metaspace import to_hf_dict as write

    return write(tok)


def from_hf_dict(d: dict, name: str = "") -> MetaspaceBPE:
    """The model of such a tokenizer.json (`tokenlab.io.hf_metaspace`)."""
    from ..io.hf_metaspace import from_hf_dict as read

    return read(d, name)
