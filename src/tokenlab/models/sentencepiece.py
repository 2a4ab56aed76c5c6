"""SentencePiece models (Llama/Mistral BPE with byte fallback, T5-style Unigram) with sentencepiece's own ids.

A `.model` file is read by :func:`tokenlab.io.sentencepiece.read_sentencepiece`; this module holds the
model: sentencepiece's normalizer (its precompiled character map, whitespace handling and the dummy "▁"
prefix), its BPE (merge the adjacent pair whose joined piece scores highest, leftmost on ties, any pair
whose join is a piece — there is no merge list) and its Unigram Viterbi, then byte fallback. Pieces are
text with "▁" for spaces; the bytes view every tokenlab tool reads (`token_bytes`, `vocab`) shows "▁" as
a space and a ``<0xNN>`` piece as its byte. Control pieces (``<s>``, ``[INST]``) are special tokens with
tokenlab's contract: an error in text unless allowed, their own text on decode.
"""

from __future__ import annotations

import codecs
import heapq
import math
import re
import struct
from functools import cached_property

import numpy as np

from ..errors import FormatError, InvalidInputError
from ..pretokenize import get_pretokenizer
from .base import ModelBase, b64, unb64

FORMAT = "tokenlab-sentencepiece"
SPACE = "\u2581"  # "▁", sentencepiece's visible space

# piece types of sentencepiece_model.proto
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}
UNK_PENALTY = 10.0  # sentencepiece's kUnkPenalty: an unknown character scores min_score - 10 in Unigram

_FLOAT32 = struct.Struct("<f")
SCORE_RESET = 100000.0  # sentencepiece's kScoreResetThreshold: path scores are re-based beyond it


def float32(x: float) -> float:
    """x rounded to the nearest float32 (IEEE round to nearest even), as a Python float."""
    return _FLOAT32.unpack(_FLOAT32.pack(x))[0]


_PER_BYTE_REPLACE = "tokenlab.per_byte_replace"
codecs.register_error(_PER_BYTE_REPLACE, lambda exc: ("\ufffd" * (exc.end - exc.start), exc.end))

_BYTE_PIECE = re.compile(r"<0x([0-9A-F]{2})>")
_SPACES = re.compile(" {2,}")


class SentencePieceTokenizer(ModelBase):
    """``pieces`` are ``(piece, score, type)`` in id order, as in the ModelProto."""

    format_name = FORMAT

    def __init__(self, pieces: list[tuple[str, float, int]], model_type: str = "bpe", *,
                 byte_fallback: bool = False, add_dummy_prefix: bool = True, remove_extra_whitespaces: bool = True,
                 escape_whitespaces: bool = True, treat_whitespace_as_suffix: bool = False,
                 precompiled_charsmap: bytes = b"", normalizer_name: str = "identity",
                 unk_surface: str = " \u2047 ", name: str = ""):
        if model_type not in ("bpe", "unigram"):
            raise FormatError(f"sentencepiece model type {model_type!r} is not supported (bpe, unigram)")
        self.pieces = [(str(p), float(s), int(t)) for p, s, t in pieces]
        self.model_type = model_type
        self.byte_fallback = bool(byte_fallback)
        self.add_dummy_prefix = bool(add_dummy_prefix)
        self.remove_extra_whitespaces = bool(remove_extra_whitespaces)
        self.escape_whitespaces = bool(escape_whitespaces)
        self.treat_whitespace_as_suffix = bool(treat_whitespace_as_suffix)
        self.precompiled_charsmap = bytes(precompiled_charsmap)
        self.normalizer_name = normalizer_name
        self.unk_surface = unk_surface
        self.name = name
        self.pretokenizer = get_pretokenizer(None)  # sentencepiece encodes the whole normalized text

        self.piece_to_id: dict[str, int] = {}  # pieces the encoder may produce: normal, user-defined, unused
        self.special_tokens: dict[str, int] = {}
        self.byte_to_id: dict[int, int] = {}
        self.user_defined: list[str] = []
        self.unk_id = None
        seen: dict[str, int] = {}
        for i, (piece, score, kind) in enumerate(self.pieces):
            if not piece:
                raise FormatError(f"piece {i} is empty")
            if not math.isfinite(score):  # sentencepiece refuses these too
                raise FormatError(f"pieces[{i}].score: {score} is NaN or infinite")
            if piece in seen:  # sentencepiece refuses a repeated piece of any type
                raise FormatError(f"pieces[{i}]: {piece!r} is also piece {seen[piece]}")
            seen[piece] = i
            if kind in (NORMAL, USER_DEFINED, UNUSED):
                if piece in self.piece_to_id:
                    raise FormatError(f"sentencepiece model has the piece {piece!r} twice")
                self.piece_to_id[piece] = i
                if kind == USER_DEFINED:
                    self.user_defined.append(piece)
            elif kind == BYTE:
                m = _BYTE_PIECE.fullmatch(piece)
                if not m:
                    raise FormatError(f"byte piece {piece!r} is not of the form <0xNN>")
                self.byte_to_id[int(m.group(1), 16)] = i
            elif kind == CONTROL:
                self.special_tokens[piece] = i
            elif kind == UNKNOWN:
                if self.unk_id is not None:
                    raise FormatError(f"pieces[{i}]: a second unknown piece (the first is {self.unk_id})")
                self.unk_id = i  # "<unk>" in text is text, as in sentencepiece; decodes to unk_surface
            else:
                raise FormatError(f"piece {i} has unknown type {kind}")
        if self.unk_id is None:
            raise FormatError("sentencepiece model has no unknown piece")
        # sentencepiece's own load checks: what a model cut at a field boundary fails (its trainer spec or
        # most pieces are gone), so a truncated file is refused as sentencepiece refuses it
        if self.byte_to_id and not self.byte_fallback:
            raise FormatError("trainer_spec.byte_fallback: byte pieces are present but byte_fallback is off "
                              "(truncated file?)")
        if not self.piece_to_id:
            raise FormatError("pieces: no normal pieces (truncated file?)")
        if self.byte_fallback and len(self.byte_to_id) != 256:
            raise FormatError(f"byte_fallback needs 256 <0xNN> pieces, found {len(self.byte_to_id)}")
        self._trie = CharsMap(self.precompiled_charsmap) if self.precompiled_charsmap else None
        self._user_by_first: dict[str, list[str]] = {}
        for piece in sorted(self.user_defined, key=len, reverse=True):
            self._user_by_first.setdefault(piece[0], []).append(piece)
        self._word_cache: dict[str, tuple[int, ...]] = {}
        self._boundary = self._safe_boundary() if model_type == "bpe" else None

    def __repr__(self) -> str:
        return (f"SentencePieceTokenizer({self.model_type}, pieces={len(self.pieces)}, "
                f"byte_fallback={self.byte_fallback}, normalizer={self.normalizer_name!r})")

    # ------------------------------------------------------------------ tables
    @property
    def vocab(self) -> dict[bytes, int]:
        """Token bytes -> id for the pieces encoding can produce ("▁" as a space, byte pieces as bytes)."""
        out = {}
        for piece, i in self.piece_to_id.items():
            out.setdefault(self._piece_bytes(piece), i)
        for b, i in self.byte_to_id.items():
            out.setdefault(bytes([b]), i)
        return out

    @property
    def merges(self) -> tuple:
        return ()  # sentencepiece BPE merges any pair whose join is a piece, by score

    @staticmethod
    def _piece_bytes(piece: str) -> bytes:
        return piece.replace(SPACE, " ").encode("utf-8")  # sentencepiece decodes every "▁" as a space

    def _id_to_bytes_table(self):
        table: list[bytes | None] = [None] * len(self.pieces)
        for piece, i in self.piece_to_id.items():
            table[i] = self._piece_bytes(piece)
        for b, i in self.byte_to_id.items():
            table[i] = bytes([b])
        table[self.unk_id] = self.unk_surface.encode("utf-8")
        return table

    @cached_property
    def scores(self) -> list[float]:
        return [s for _, s, _ in self.pieces]

    @cached_property
    def _unigram_tables(self) -> tuple[dict[str, float], int, float]:
        """Scores of the pieces the lattice may use (unused ones never), longest piece, unknown score. As
        sentencepiece 0.2.3's unigram_model.cc: the unknown score is (lowest normal score) - 10 in float32 and a
        user-defined piece scores 0.1 * (its UTF-8 length - 1) in float32, whatever the file says."""
        scores = {p: self.scores[i] for p, i in self.piece_to_id.items() if self.pieces[i][2] != UNUSED}
        for piece in self.user_defined:
            if piece in scores:
                scores[piece] = float32(0.1 * (len(piece.encode("utf-8")) - 1))
        longest = max(map(len, scores), default=1)
        min_score = min((s for _, s, t in self.pieces if t == NORMAL), default=0.0)
        return scores, longest, float32(min_score - UNK_PENALTY)

    # ------------------------------------------------------------------ normalizer
    def normalize(self, text: str) -> str:
        """sentencepiece's normalized text: character map, whitespace rules, dummy prefix, "▁" for spaces."""
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be str, got {type(text).__name__}")
        if self._trie is None and not self.user_defined:
            return self._normalize_identity(text)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInputError(f"text is not valid UTF-8 ({exc.reason} at character {exc.start})") from None
        units: list[str] = []
        i = 0
        while i < len(data):
            replacement, consumed = self._normalize_prefix(data, i)
            units.append(replacement)
            i += consumed
        return self._whitespace(units)

    def _normalize_identity(self, text: str) -> str:
        if self.remove_extra_whitespaces:
            text = _SPACES.sub(" ", text.lstrip(" "))
            if not text:
                return ""
        elif not text:
            return ""
        if self.add_dummy_prefix and not self.treat_whitespace_as_suffix:
            text = " " + text
        return self._finish(text)

    def _finish(self, text: str) -> str:
        """Escape spaces, drop trailing ones (an input "▁" counts: it is stripped after escaping), dummy suffix."""
        space = SPACE if self.escape_whitespaces else " "
        if self.escape_whitespaces:
            text = text.replace(" ", SPACE)
        if self.remove_extra_whitespaces:
            text = text.rstrip(space)
        if self.treat_whitespace_as_suffix and self.add_dummy_prefix:
            text += space
        return text

    def _normalize_prefix(self, data: bytes, i: int) -> tuple[str, int]:
        """(replacement, bytes consumed) at data[i:], as sentencepiece's Normalizer::NormalizePrefix."""
        first = data[i:i + 4].decode("utf-8", "ignore")[:1]
        for piece in self._user_by_first.get(first, ()):
            encoded = piece.encode("utf-8")
            if data.startswith(encoded, i):
                return piece, len(encoded)
        if self._trie is not None:
            length, replacement = self._trie.longest_match(data, i)
            if length:
                return replacement, length
        return first, len(first.encode("utf-8"))

    def _whitespace(self, units: list[str]) -> str:
        """Dummy prefix, extra-space removal and escaping over normalized units (Normalizer::Normalize)."""
        remove = self.remove_extra_whitespaces
        k = 0
        if remove:
            while k < len(units) and units[k] == " ":
                k += 1
        if k == len(units):
            return ""
        out: list[str] = []
        if not self.treat_whitespace_as_suffix and self.add_dummy_prefix:
            out.append(" ")
        prev_space = remove
        for unit in units[k:]:
            if prev_space:
                unit = unit.lstrip(" ")
            if unit:
                out.append(unit)
                prev_space = unit.endswith(" ")
            if not remove:
                prev_space = False
        return self._finish("".join(out))

    # ------------------------------------------------------------------ encode
    def encode_ordinary(self, text: str) -> list[int]:
        kernel = self._kernel
        if kernel is not None and isinstance(text, str):
            try:
                return kernel.encode(text)
            except UnicodeEncodeError:
                pass  # lone surrogates: the Python path gives its own error
        return self._encode_python(text)

    @cached_property
    def _kernel(self):
        """The compiled model (`tokenlab.kernels._sp`, same ids, tested against this module), or None where it
        is not built or this model needs what it does not do (unused pieces in BPE, suffix-space words)."""
        from .. import kernels

        if kernels.sp is None:
            return None
        if self.model_type == "bpe":
            if (self.treat_whitespace_as_suffix and self._boundary is not None) or any(
                    kind == UNUSED for _, _, kind in self.pieces):
                return None
            items = [(p, i, self.scores[i]) for p, i in self.piece_to_id.items()]
            unk_score = 0.0
            words = self._boundary is not None
        else:
            scores, _, unk_score = self._unigram_tables
            items = [(p, self.piece_to_id[p], s) for p, s in scores.items()]
            # word starts are lattice node boundaries unless a piece spans one: then words are cached
            words = not self.treat_whitespace_as_suffix and not pieces_span_word_starts(self.piece_to_id)
        if any(float32(score) != score for _, _, score in items) or float32(unk_score) != unk_score:
            return None  # the kernel keeps scores as float32 (as every .model file has them); others stay exact here
        return kernels.sp.SPModel(
            self.model_type, [p.encode("utf-8") for p, _, _ in items], [i for _, i, _ in items],
            [s for _, _, s in items], [u.encode("utf-8") for u in self.user_defined],
            [self.byte_to_id[b] for b in range(256)] if self.byte_fallback else [], self.unk_id, unk_score,
            self.precompiled_charsmap, self.add_dummy_prefix, self.remove_extra_whitespaces,
            self.escape_whitespaces, self.treat_whitespace_as_suffix, words)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_kernel", None)  # compiled tables are rebuilt on first use
        return state

    def _encode_python(self, text: str) -> list[int]:
        """The pure-Python encoder (the reference the compiled kernel is tested against)."""
        normalized = self.normalize(text)
        if not normalized:
            return []
        if self.model_type == "unigram":
            return self._fallback(self._unigram(normalized))
        if self._boundary is None:
            return self._fallback(self._bpe(normalized))
        ids: list[int] = []
        cache = self._word_cache
        for word in self._boundary.findall(normalized):
            got = cache.get(word)
            if got is None:
                got = tuple(self._fallback(self._bpe(word)))
                if len(cache) < 1 << 18:
                    cache[word] = got
            if got and ids and got[0] == ids[-1] == self.unk_id and not self.byte_fallback:
                got = got[1:]  # unknown runs are one unknown token, across words too
            ids.extend(got)
        return ids

    def encode_token_text(self, text: str) -> list[int]:
        """Ids of a token's own text as it sits inside a normalized text (no normalizer, no dummy prefix):
        a piece is reachable when this gives the piece itself (what token-health checks ask)."""
        normalized = text.replace(" ", SPACE) if self.escape_whitespaces else text
        return self._fallback(self._unigram(normalized) if self.model_type == "unigram" else self._bpe(normalized))

    def healing_start(self, prompt: str) -> int | None:
        """Where the prompt's last word (with the spaces before it) starts, counted in the bytes its tokens
        spell (the dummy "▁" included): no piece spans a word start, so the tokens before it stay the same
        whatever follows. None when the normalizer can move or drop characters (character map,
        user-defined symbols, extra-space removal, suffix spaces) or the prompt holds a special token."""
        if (self._boundary is None or self._trie is not None or self.user_defined or self.remove_extra_whitespaces
                or self.treat_whitespace_as_suffix or not self.escape_whitespaces
                or any(special in prompt for special in self.special_tokens)):
            return None
        spelled = " " + prompt if self.add_dummy_prefix and prompt else prompt
        return last_word_offset(spelled.replace(" ", SPACE))

    def _safe_boundary(self):
        """A regex splitting normalized text where no piece can span, so words can be cached; or None."""
        suffix = self.treat_whitespace_as_suffix
        return None if pieces_span_word_starts(self.piece_to_id, suffix=suffix) else word_regex(suffix=suffix)

    def _bpe(self, text: str) -> list:
        """Pieces of one normalized text (bpe_model.cc: highest-scoring join first, leftmost on ties); an unused
        piece sentencepiece cannot split back comes as (piece, False), as `_fallback` reads unknown pieces."""
        symbols: list[str] = []
        frozen: list[bool] = []
        i = 0
        while i < len(text):
            match = next((p for p in self._user_by_first.get(text[i], ()) if text.startswith(p, i)), None)
            symbols.append(match or text[i])
            frozen.append(match is not None)
            i += len(symbols[-1])
        n = len(symbols)
        if n < 1:  # one symbol still goes through _resegment: an unused character is unknown
            return symbols
        prev = list(range(-1, n - 1))
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        to_id, scores, unused = self.piece_to_id, self.scores, self.pieces
        heap: list[tuple[float, int, int, int]] = []
        undo: dict[str, tuple[str, str]] = {}

        def push(left: int, right: int) -> None:
            if left < 0 or right < 0 or frozen[left] or frozen[right]:
                return
            joined = symbols[left] + symbols[right]
            pid = to_id.get(joined)
            if pid is None:
                return
            heapq.heappush(heap, (-scores[pid], left, right, len(joined)))
            if unused[pid][2] == UNUSED:
                undo[joined] = (symbols[left], symbols[right])

        for k in range(n - 1):
            push(k, k + 1)
        while heap:
            _, left, right, size = heapq.heappop(heap)
            a, b = symbols[left], symbols[right]
            if not a or not b or len(a) + len(b) != size or nxt[left] != right:
                continue  # stale: one side already merged elsewhere
            symbols[left] = a + b
            symbols[right] = ""
            nxt[left] = nxt[right]
            if nxt[right] >= 0:
                prev[nxt[right]] = left
            push(prev[left], left)
            push(left, nxt[left])
        out: list = []
        for piece in symbols:
            if piece:
                self._resegment(piece, undo, out)
        return out

    def _resegment(self, piece: str, undo: dict[str, tuple[str, str]], out: list) -> None:
        """An unused piece is split back into the pieces it was joined from (bpe_model.cc resegment); one that
        was never joined (a single character) is unknown, as sentencepiece encodes it: ``<unk>``, or its bytes
        with byte fallback."""
        pid = self.piece_to_id.get(piece)
        if pid is None or self.pieces[pid][2] != UNUSED:
            out.append(piece)
            return
        if piece not in undo:
            out.append((piece, False))
            return
        left, right = undo[piece]
        self._resegment(left, undo, out)
        self._resegment(right, undo, out)

    def _unigram(self, text: str) -> list[tuple[str, bool]]:
        return best_segmentation(text, *self._unigram_tables, float32_paths=True)

    def _fallback(self, pieces: list) -> list[int]:
        """Ids of pieces (strings, or (piece, known) pairs from the lattice); an unknown piece becomes its
        UTF-8 bytes, or the unknown id."""
        ids: list[int] = []
        to_id = self.piece_to_id
        for piece in pieces:
            if isinstance(piece, tuple):
                piece, known = piece
                pid = to_id[piece] if known else None
            else:
                pid = to_id.get(piece)
            if pid is not None:
                ids.append(pid)
            elif self.byte_fallback:
                ids.extend(self.byte_to_id[b] for b in piece.encode("utf-8"))
            elif not ids or ids[-1] != self.unk_id:  # a run of unknown pieces is one unknown token
                ids.append(self.unk_id)
        return ids

    def pieces_of(self, ids) -> list[str]:
        """The piece strings of ids (sentencepiece's ``id_to_piece``)."""
        out = []
        for i in ids:
            if not isinstance(i, (int, np.integer)) or not 0 <= i < len(self.pieces):
                raise InvalidInputError(f"unknown token id {i!r}")
            out.append(self.pieces[int(i)][0])
        return out

    # ------------------------------------------------------------------ decode
    def decode_bytes(self, ids) -> bytes:
        """Token bytes joined, with sentencepiece's rule for the dummy prefix (Decode in
        sentencepiece_processor.cc): while its output is still empty, a piece's leading "▁" is dropped, and
        once one has been dropped no other is, unless extra spaces are removed (then every leading "▁" of
        an output that is still empty goes). Byte and unknown pieces are never stripped and end the start.
        Control tokens keep tokenlab's contract (their text) but count as empty, as sentencepiece's do."""
        ids = self._checked_ids(ids)
        table = self.id_to_bytes
        if not (self.add_dummy_prefix or self.remove_extra_whitespaces):
            return b"".join(table[i] for i in ids)
        specials, byte_ids, pieces = self.special_ids, self._byte_ids, self.pieces
        strip_all = self.remove_extra_whitespaces
        out: list[bytes] = []
        at_start = True  # sentencepiece's is_bos_ws
        stripped = False  # the previous piece lost its "▁" (bos_ws_seen)
        produced = False  # sentencepiece's output is not empty
        for i in ids:
            data = table[i]
            if i in byte_ids:
                out.append(data)
                produced = True
                continue
            if stripped or produced:
                at_start = False
            stripped = False
            if i not in specials:
                if at_start and i != self.unk_id and pieces[i][0].startswith(SPACE):
                    data = data[1:]
                    stripped = not strip_all
                produced = produced or bool(data)
            out.append(data)
        return b"".join(out)

    def decode(self, ids, errors: str = "replace") -> str:
        """As `ModelBase.decode`; with ``errors="replace"`` every byte of an invalid UTF-8 sequence becomes
        one U+FFFD, as sentencepiece decodes byte pieces (Python would give one per maximal subpart)."""
        return super().decode(ids, errors=_PER_BYTE_REPLACE if errors == "replace" else errors)

    @cached_property
    def _byte_ids(self) -> set[int]:
        return set(self.byte_to_id.values())

    # ------------------------------------------------------------------ HF tokenizer.json
    def to_hf_dict(self) -> dict:
        """An HF tokenizer.json (as transformers converts Llama/Mistral models): Prepend + Replace normalizer,
        BPE over characters whose merges are every split of every piece, ranked by the piece's score."""
        self._refuse_unused_in_hf()
        if (self.model_type != "bpe" or self._trie is not None or self.remove_extra_whitespaces
                or self.treat_whitespace_as_suffix or not self.escape_whitespaces):
            raise FormatError("only SentencePiece BPE models with the identity normalizer and kept extra spaces "
                              "can be written as tokenizer.json")
        vocab = {piece: i for i, (piece, _, _) in enumerate(self.pieces)}
        scored = []
        for piece, i in self.piece_to_id.items():
            splits = [(piece[:k], piece[k:]) for k in range(1, len(piece))
                      if piece[:k] in self.piece_to_id and piece[k:] in self.piece_to_id]
            splits.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
            scored.extend((-self.scores[i], order, a, b) for order, (a, b) in enumerate(splits))
        scored.sort(key=lambda m: m[0])  # stable: splits of one piece keep their order
        specials = sorted([*self.special_tokens.items(), (self.pieces[self.unk_id][0], self.unk_id)],
                          key=lambda kv: kv[1])
        added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for t, i in specials]
        # user-defined symbols: non-special added tokens. HF then normalizes the text on each side of one on its
        # own, so the text right after it gets a dummy "▁" too (HF's "legacy" Llama behaviour; documented)
        added += [{"id": self.piece_to_id[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                   "normalized": False, "special": False} for t in self.user_defined]
        added.sort(key=lambda a: a["id"])
        normalizers = ([{"type": "Prepend", "prepend": SPACE}] if self.add_dummy_prefix else []) + [
            {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}]
        decoders = [{"type": "Replace", "pattern": {"String": SPACE}, "content": " "}, {"type": "ByteFallback"},
                    {"type": "Fuse"}]
        if self.add_dummy_prefix:
            decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
        return {
            "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": {"type": "Sequence", "normalizers": normalizers}, "pre_tokenizer": None,
            "post_processor": None, "decoder": {"type": "Sequence", "decoders": decoders},
            "model": {"type": "BPE", "dropout": None, "unk_token": self.pieces[self.unk_id][0],
                      "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True,
                      "byte_fallback": self.byte_fallback, "ignore_merges": False, "vocab": vocab,
                      "merges": [[a, b] for _, _, a, b in scored]},
        }

    def _refuse_unused_in_hf(self) -> None:
        """HF's BPE has no unused pieces: it would give their ids, which sentencepiece never does (it splits an
        unused piece back into the two it was joined from, and an unused character is unknown)."""
        unused = [piece for piece, _, kind in self.pieces if kind == UNUSED]
        if unused:
            raise FormatError(f"SentencePiece models with unused pieces ({len(unused)}, the first {unused[0]!r}) "
                              "cannot be written as tokenizer.json: HF's BPE would give their ids")

    def save_hf(self, path) -> None:
        import json

        from ..io.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_hf_dict(), ensure_ascii=False))

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        return {
            "format": FORMAT, "version": 1, "name": self.name, "model_type": self.model_type,
            "pieces": [[p, s, t] for p, s, t in self.pieces],
            "byte_fallback": self.byte_fallback, "add_dummy_prefix": self.add_dummy_prefix,
            "remove_extra_whitespaces": self.remove_extra_whitespaces,
            "escape_whitespaces": self.escape_whitespaces,
            "treat_whitespace_as_suffix": self.treat_whitespace_as_suffix,
            "normalizer_name": self.normalizer_name, "precompiled_charsmap": b64(self.precompiled_charsmap),
            "unk_surface": self.unk_surface,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SentencePieceTokenizer:
        return cls([(p, s, t) for p, s, t in d["pieces"]], d["model_type"], byte_fallback=d["byte_fallback"],
                   add_dummy_prefix=d["add_dummy_prefix"], remove_extra_whitespaces=d["remove_extra_whitespaces"],
                   escape_whitespaces=d["escape_whitespaces"],
                   treat_whitespace_as_suffix=d["treat_whitespace_as_suffix"],
                   normalizer_name=d.get("normalizer_name", ""),
                   precompiled_charsmap=unb64(d.get("precompiled_charsmap", "")),
                   unk_surface=d.get("unk_surface", " \u2047 "), name=d.get("name", ""))


def word_regex(space: str = SPACE, suffix: bool = False) -> re.Pattern:
    """Words of normalized text: space marks then the rest (the rest then space marks for suffix models)."""
    mark = re.escape(space)
    return re.compile(f"[^{mark}]*{mark}+|[^{mark}]+" if suffix else f"{mark}*[^{mark}]+|{mark}+")


def pieces_span_word_starts(pieces, space: str = SPACE, suffix: bool = False) -> bool:
    """Whether a piece has the space mark after another character (before one, for suffix models): then
    a piece can span the start of a word and words cannot be encoded apart."""
    for piece in pieces:
        for a, b in zip(piece, piece[1:]):
            if (a == space != b) if suffix else (b == space != a):
                return True
    return False


def last_word_offset(normalized: str, space: str = SPACE) -> int:
    """Bytes (space marks counted as spaces) before the last word of normalized text, its marks included."""
    starts = [m.start() for m in word_regex(space).finditer(normalized)]
    return len(normalized[:starts[-1]].replace(space, " ").encode("utf-8")) if starts else 0


def best_segmentation(text: str, scores: dict[str, float], longest: int, unk_score: float, *,
                      float32_paths: bool = False) -> list[tuple[str, bool]]:
    """The most probable segmentation of ``text`` into pieces of ``scores``: the first best candidate is kept on
    ties (candidates for one end arrive by increasing start), and a character that starts no one-character piece
    covers itself as an unknown node scoring ``unk_score``. HF's Unigram keeps path scores as doubles (the
    default). sentencepiece's EncodeOptimized (``float32_paths``) keeps them in float32: a candidate is the float32
    sum of the piece's score and the path before it, and once the path before a position passes +-100000 every
    stored score from there to the farthest reached end is re-based on it (float32 subtraction), so long texts
    keep their precision. Paths that tie in one arithmetic need not tie in the other, so each reference's
    arithmetic picks its own ids. (piece, known) in order; a run of unknown characters comes back as one piece."""
    n = len(text)
    best = [0.0] * (n + 1)
    start = [-1] * (n + 1)
    known = [True] * (n + 1)
    start[0] = 0
    frontier = 0  # farthest end of any node so far (sentencepiece's max_frontier)
    for i in range(n):
        here = best[i]
        if float32_paths and not -SCORE_RESET <= here <= SCORE_RESET:
            for k in range(i, frontier + 1):
                if k == i or start[k] != -1:
                    best[k] = float32(best[k] - here)
            here = 0.0
        has_single = False
        for j in range(i + 1, min(n, i + longest) + 1):
            score = scores.get(text[i:j])
            if score is None:
                continue
            if j == i + 1:
                has_single = True
            if j > frontier:
                frontier = j
            total = score + here
            if start[j] != -1:
                other = best[j]
                if total < other - 1e-6 * (abs(other) + 1.0):
                    continue  # worse by far more than a float32 rounding: no need to round
                if float32_paths:
                    total = float32(total)
                if total <= other:
                    continue
            elif float32_paths:
                total = float32(total)
            best[j], start[j], known[j] = total, i, True
        if not has_single:
            if i + 1 > frontier:
                frontier = i + 1
            total = unk_score + here
            if float32_paths:
                total = float32(total)
            if start[i + 1] == -1 or total > best[i + 1]:
                best[i + 1], start[i + 1], known[i + 1] = total, i, False
    out: list[tuple[str, bool]] = []
    j = n
    while j > 0:
        i = start[j]
        if not known[j] and out and not out[-1][1]:
            out[-1] = (text[i:j] + out[-1][0], False)
        else:
            out.append((text[i:j], known[j]))
        j = i
    out.reverse()
    return out


def _validate_double_array(units: np.ndarray, n_strings: int) -> None:
    """Walk every node of the darts-clone trie (breadth first, vectorised): each child and value unit must lie
    inside the array and each value inside the strings, as sentencepiece checks before it uses the map. A unit is
    walked once, so a cycle ends the walk; only one back to the root (whose unit then is a child) is refused."""
    size = len(units)
    offset = lambda u: (u >> 10) << ((u & (1 << 9)) >> 6)  # noqa: E731
    labels = np.arange(1, 256, dtype=np.int64)
    bases = np.array([offset(units[0])], dtype=np.int64)
    seen = np.zeros(size, dtype=bool)
    for _ in range(size):
        if not len(bases):
            return
        if (bases >= size).any() or (bases < 0).any():
            raise FormatError("precompiled_charsmap is invalid (a node points outside the trie)")
        idx = (bases[:, None] ^ labels[None, :]).ravel()
        want = np.broadcast_to(labels, (len(bases), 255)).ravel()
        inside = idx < size
        idx, want = idx[inside], want[inside]
        child = np.unique(idx[(units[idx] & ((1 << 31) | 0xFF)) == want])
        child = child[~seen[child]]
        seen[child] = True
        unit = units[child]
        nxt = child ^ offset(unit)
        leaf = ((unit >> 8) & 1).astype(bool)
        if (nxt[leaf] >= size).any() or ((units[nxt[leaf] % size] & ((1 << 31) - 1)) >= n_strings).any():
            raise FormatError("precompiled_charsmap is invalid (a value lies outside the strings)")
        bases = nxt
    if len(bases):  # every unit was found, the root too: the walk came back to it
        raise FormatError("precompiled_charsmap is invalid (the trie has a cycle)")


class CharsMap:
    """sentencepiece's precompiled normalization map: a darts-clone double array + replacement strings."""

    def __init__(self, blob: bytes):
        if len(blob) < 4:
            raise FormatError("precompiled_charsmap is truncated")
        trie_size = int.from_bytes(blob[:4], "little")
        if trie_size % 4 or 4 + trie_size > len(blob):
            raise FormatError("precompiled_charsmap has a corrupt trie size")
        self.units = np.frombuffer(blob[4:4 + trie_size], dtype="<u4").astype(np.int64).tolist()
        self.strings = blob[4 + trie_size:]
        if not self.units or not self.strings or not self.strings.endswith(b"\x00"):
            raise FormatError("precompiled_charsmap is invalid (empty trie or unterminated strings)")
        _validate_double_array(np.asarray(self.units, dtype=np.int64), len(self.strings))
        self._replacement: dict[int, str] = {}

    def normalize_graphemes(self, text: str) -> str:
        """HF tokenizers' ``Precompiled`` normalizer: per grapheme cluster (under 6 bytes) the shortest key
        that is a prefix of it replaces the whole cluster, else each character is looked up on its own.
        Not sentencepiece's longest match; HF keeps it for compatibility with the models converted so far."""
        import regex

        out: list[str] = []
        for cluster in regex.findall(r"\X", text):
            data = cluster.encode("utf-8")
            if len(data) < 6:
                replacement = self.shortest_match(data)
                if replacement is not None:
                    out.append(replacement)
                    continue
            for ch in cluster:
                replacement = self.shortest_match(ch.encode("utf-8"))
                out.append(ch if replacement is None else replacement)
        return "".join(out)

    def shortest_match(self, data: bytes) -> str | None:
        length, value = self._walk(data, 0, shortest=True)
        return self._string(value) if length else None

    def longest_match(self, data: bytes, start: int) -> tuple[int, str]:
        """(bytes matched, replacement) of the longest key at data[start:]; (0, "") if none."""
        length, value = self._walk(data, start, shortest=False)
        return (length, self._string(value)) if length else (0, "")

    def _walk(self, data: bytes, start: int, shortest: bool) -> tuple[int, int]:
        """darts-clone common-prefix search from data[start]: (length, value) of the longest (or shortest) key."""
        units = self.units
        size = len(units)
        unit = units[0]
        node = (unit >> 10) << ((unit & (1 << 9)) >> 6)
        best_length, best_value = 0, -1
        for i in range(start, len(data)):
            c = data[i]
            node ^= c
            if node >= size:
                break
            unit = units[node]
            if unit & ((1 << 31) | 0xFF) != c:
                break
            node ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
            if (unit >> 8) & 1:
                if node >= size:
                    break
                best_length, best_value = i - start + 1, units[node] & ((1 << 31) - 1)
                if shortest:
                    break
        return best_length, best_value

    def _string(self, value: int) -> str:
        text = self._replacement.get(value)
        if text is None:
            if not 0 <= value < len(self.strings):
                raise FormatError(f"precompiled_charsmap is invalid (replacement offset {value} out of range)")
            end = self.strings.find(b"\x00", value)
            try:
                text = self.strings[value:end].decode("utf-8")
            except UnicodeDecodeError:
                raise FormatError(f"precompiled_charsmap is invalid (replacement at {value} is not UTF-8)") from None
            self._replacement[value] = text
        return text


def load_sentencepiece_json(path) -> SentencePieceTokenizer:
    return SentencePieceTokenizer.load(path)
