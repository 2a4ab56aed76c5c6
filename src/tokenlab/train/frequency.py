"""A frequency-only word tokenizer: n-ary Huffman codes over whole pretokens.

"Assessing the Importance of Frequency versus Compositionality for Subword-based Tokenization in NMT"
(Wolleb et al. 2023) separates the two advantages of subwords: frequent words get short encodings
(frequency) and pieces are shared between words (compositionality). Their tokenizer keeps only the first:
each word of the training text gets a Huffman code over a fixed alphabet of ``K`` symbols, so the most
frequent words are one symbol and rarer words a few, and no symbol means the same thing in two words.

Ids: ``0..255`` are raw bytes (pretokens not seen in training are spelled byte by byte, so encoding never
fails and decoding is exact), ``256..256+K-1`` are the code symbols, specials follow.
"""

from __future__ import annotations

import base64
import heapq
import json
from collections.abc import Iterable
from pathlib import Path

from ..base import TokenizerBase
from ..errors import FormatError, InvalidInputError
from ..pretokenize import PreTokenizer, get_pretokenizer
from ..specials import split_special

FORMAT = "tokenlab-huffman"


def huffman_codes(weights: dict[bytes, int], k: int) -> dict[bytes, tuple[int, ...]]:
    """Optimal prefix-free codes over ``k`` symbols (n-ary Huffman; ties broken by insertion order)."""
    if k < 2:
        raise InvalidInputError("a Huffman code needs at least 2 symbols")
    items = list(weights.items())
    if not items:
        return {}
    if len(items) <= k:  # every word gets its own symbol, most frequent first
        order = sorted(range(len(items)), key=lambda j: (-items[j][1], j))
        return {items[j][0]: (n,) for n, j in enumerate(order)}
    heap: list = []
    serial = 0
    for word, w in items:
        heap.append((w, serial, word))
        serial += 1
    while (len(heap) - 1) % (k - 1):
        heap.append((0, serial, None))  # dummy leaves make every merge take exactly k nodes
        serial += 1
    heapq.heapify(heap)
    while len(heap) > 1:
        children = [heapq.heappop(heap) for _ in range(k)]
        heapq.heappush(heap, (sum(c[0] for c in children), serial, [c[2] for c in children]))
        serial += 1
    codes: dict[bytes, tuple[int, ...]] = {}
    stack = [(heap[0][2], ())]
    while stack:
        node, code = stack.pop()
        if isinstance(node, list):
            # heaviest child first gets symbol 0 (children were popped lightest first)
            for n, child in enumerate(reversed(node)):
                stack.append((child, code + (n,)))
        elif node is not None:
            codes[node] = code
    return codes


class HuffmanWordTokenizer(TokenizerBase):
    """Whole pretokens -> Huffman codes (see module doc)."""

    format_name = FORMAT

    def __init__(self, codes: dict[bytes, tuple[int, ...]], n_symbols: int, pretokenizer="gpt2",
                 special_tokens: dict[str, int] | None = None, name: str = ""):
        self.codes = dict(codes)
        self.n_symbols = int(n_symbols)
        self.pretokenizer = get_pretokenizer(pretokenizer)
        self.special_tokens = dict(special_tokens or {})
        self.name = name
        self.words = {code: word for word, code in self.codes.items()}
        self._prefixes = {code[:n] for code in self.words for n in range(1, len(code))}
        bad = [c for c in self.words if any(not 0 <= s < self.n_symbols for s in c)]
        if bad or len(self.words) != len(self.codes) or self._prefixes & set(self.words):
            raise FormatError("Huffman codes must be distinct, prefix-free and within the symbol range")
        top = 256 + self.n_symbols
        if any(i < top for i in self.special_tokens.values()):
            raise FormatError(f"special token ids must be >= {top}")
        self._specials_by_id = {i: s for s, i in self.special_tokens.items()}

    @property
    def vocab(self) -> dict[bytes, int]:
        """Ids that spell fixed bytes on their own: the 256 bytes and the words with a one-symbol code
        (longer codes' symbols mean different things at different depths, so they have no bytes)."""
        out = {bytes([b]): b for b in range(256)}
        for word, code in self.codes.items():
            if len(code) == 1:
                out.setdefault(word, 256 + code[0])
        return out

    merges: list = []  # no merges: `tokenlab info` reads this

    @property
    def n_active(self) -> int:
        return 256 + self.n_symbols

    @property
    def n_vocab(self) -> int:
        return max([self.n_active - 1, *self.special_tokens.values()]) + 1

    def __repr__(self) -> str:
        return f"HuffmanWordTokenizer({len(self.codes)} words, {self.n_symbols} symbols)"

    # ---------------------------------------------------------------- encode / decode
    def encode_ordinary(self, text: str) -> list[int]:
        out: list[int] = []
        for piece in self.pretokenizer.split(text):
            data = piece.encode("utf-8", "surrogatepass")
            code = self.codes.get(data)
            if code is None:
                out.extend(data)
            else:
                out.extend(256 + s for s in code)
        return out

    def encode(self, text: str, *, allowed_special="none", disallowed_special="all", **_) -> list[int]:
        ids: list[int] = []
        allowed = () if allowed_special == "none" else allowed_special
        for part in split_special(self.special_tokens, text, allowed, disallowed_special):
            if isinstance(part, int):
                ids.append(part)
            else:
                ids.extend(self.encode_ordinary(part))
        return ids

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        out = bytearray()
        code: tuple[int, ...] = ()
        for i in ids:
            i = int(i)
            if 256 <= i < self.n_active:
                code += (i - 256,)
                word = self.words.get(code)
                if word is not None:
                    out += word
                    code = ()
                elif code not in self._prefixes:
                    raise InvalidInputError(f"symbols {[256 + s for s in code]} are no word's code")
                continue
            if code:
                raise InvalidInputError(f"an unfinished word code before id {i}")
            if 0 <= i < 256:
                out.append(i)
            elif i in self._specials_by_id:
                out += self._specials_by_id[i].encode("utf-8")
            else:
                raise InvalidInputError(f"unknown token id {i}")
        if code:
            raise InvalidInputError("the ids end inside a word code")
        return bytes(out)

    # ---------------------------------------------------------------- files
    def to_dict(self) -> dict:
        return {"format": FORMAT, "name": self.name, "n_symbols": self.n_symbols,
                "pretokenizer": self.pretokenizer.to_dict(), "special_tokens": self.special_tokens,
                "codes": [[base64.b64encode(w).decode("ascii"), list(c)] for w, c in self.codes.items()]}

    @classmethod
    def from_dict(cls, d: dict) -> HuffmanWordTokenizer:
        if d.get("format") != FORMAT:
            raise FormatError(f"not a {FORMAT} file")
        try:
            codes = {base64.b64decode(w, validate=True): tuple(int(s) for s in c) for w, c in d["codes"]}
            return cls(codes, int(d["n_symbols"]), PreTokenizer.from_dict(d["pretokenizer"]),
                       {str(k): int(v) for k, v in d.get("special_tokens", {}).items()}, d.get("name", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"corrupt {FORMAT} file: {exc}") from None


def load_huffman(path) -> HuffmanWordTokenizer:
    try:
        return HuffmanWordTokenizer.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: not JSON ({exc})") from None


def train_huffman(corpus: Iterable[str], vocab_size: int = 8000, pretokenizer="gpt2",
                  special_tokens: Iterable[str] = (), min_frequency: int = 0, split_digits: int | None = None,
                  progress: bool = True, name: str = "") -> HuffmanWordTokenizer:
    """Huffman codes for every pretoken seen at least ``max(min_frequency, 1)`` times, over
    ``vocab_size - 256 - specials`` symbols."""
    from .bpe import count_pretokens

    specials = list(dict.fromkeys(special_tokens))
    k = vocab_size - 256 - len(specials)
    if k < 2:
        raise InvalidInputError(f"vocab_size {vocab_size} leaves fewer than 2 code symbols after the 256 bytes")
    pre = get_pretokenizer(pretokenizer, split_digits)
    counts = dict(count_pretokens(corpus, pre, progress=progress))
    words = {w: c for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= max(1, min_frequency)}
    if not words:
        raise InvalidInputError("corpus is empty")
    codes = huffman_codes(words, k)
    return HuffmanWordTokenizer(codes, k, pre, {s: 256 + k + n for n, s in enumerate(specials)}, name=name)


def _register() -> None:
    from ..io import JSON_FORMATS

    JSON_FORMATS.setdefault(FORMAT, "tokenlab.train.frequency:load_huffman")


_register()
