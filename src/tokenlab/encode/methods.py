"""Inference methods over one fixed vocabulary (Uzan et al. 2024, "Greed is All You Need").

The same vocabulary can segment a pretoken in several ways; these are the alternatives to
BPE's merge order. Every method works per pretoken on UTF-8 bytes, and since every single
byte is a token, every method covers every input and decodes back exactly.

- ``longest_prefix``: repeatedly take the longest token that starts the rest (WordPiece-style greedy).
- ``longest_suffix``: the same from the right end.
- ``longest_token``: take the longest token found anywhere in the piece (leftmost on ties), then
  segment what lies left and right of it the same way.
- ``pathpiece``: fewest tokens (Schmidt et al. 2024), a shortest path over the lattice. Among
  the minimal segmentations ``tie_break="longest"`` takes, from the end backwards, the longest
  optimal last token each time (the authors' default, as in their reference implementation);
  ``tie_break="random"`` picks that last token uniformly among the optimal ones at each step
  (the authors' random tie-breaker); ``tie_break="uniform"`` draws uniformly among *all*
  minimal segmentations. Random modes are repeatable with ``seed``.
"""

from __future__ import annotations

import itertools
import random
import weakref
from collections.abc import Callable, Iterable

from ..errors import FormatError, InvalidInputError
from ..specials import split_special, utf8
from .lattice import VocabIndex, draw

_INDEXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def vocab_index(tok) -> VocabIndex:
    """The (cached) lattice index of ``tok``'s ordinary vocabulary."""
    idx = _INDEXES.get(tok)
    if idx is None:
        idx = VocabIndex(tok.vocab)
        _INDEXES[tok] = idx
    return idx


# ---------------------------------------------------------------------- specials and pretokens
def encode_with(tok, text: str, piece_fn: Callable[[bytes], list[int]], allowed_special=(),
                disallowed_special="all") -> list[int]:
    """Pre-tokenize like ``tok`` and segment each piece's bytes with ``piece_fn``."""
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be str, got {type(text).__name__}")
    ids: list[int] = []
    split = tok.pretokenizer.split
    for part in split_special(tok.special_tokens, text, allowed_special, disallowed_special):
        if isinstance(part, int):
            ids.append(part)
            continue
        for piece in split(part):
            ids.extend(piece_fn(utf8(piece)))
    return ids


# ---------------------------------------------------------------------- per-piece segmenters
def longest_prefix_piece(idx: VocabIndex, data: bytes) -> list[int]:
    out = []
    i, n = 0, len(data)
    while i < n:
        j, tid = idx.starting_at(data, i)[-1]
        out.append(tid)
        i = j
    return out


def longest_suffix_piece(idx: VocabIndex, data: bytes) -> list[int]:
    out = []
    j = len(data)
    while j > 0:
        i, tid = idx.ending_at(data, j)[-1]
        out.append(tid)
        j = i
    out.reverse()
    return out


def longest_token_piece(idx: VocabIndex, data: bytes) -> list[int]:
    # Taking matches longest-first (leftmost on ties) and keeping each one that lies wholly in
    # still-free bytes is the same as the recursive split, without rescanning each sub-range.
    matches = []
    for i in range(len(data)):
        for j, tid in idx.starting_at(data, i):
            matches.append((i - j, i, j, tid))
    matches.sort()
    taken = bytearray(len(data))
    out: list[tuple[int, int]] = []
    free = len(data)
    for _, i, j, tid in matches:
        if not any(taken[i:j]):
            taken[i:j] = b"\x01" * (j - i)
            out.append((i, tid))
            free -= j - i
            if not free:
                break
    out.sort()
    return [tid for _, tid in out]


def pathpiece_piece(idx: VocabIndex, data: bytes, rng: random.Random | None = None,
                    tie_break: str = "random") -> list[int]:
    """Fewest tokens; ``rng`` None = longest-last-token tie-break, else ``tie_break`` random/uniform."""
    if rng is None:
        return _pathpiece_longest(idx.lattice(data))
    return draw(pathpiece_table(idx, data, tie_break == "uniform"), rng)


def _min_costs(edges) -> list[int]:
    n = len(edges) - 1
    cost = [0] * (n + 1)
    for j in range(1, n + 1):
        cost[j] = min(cost[i] for i, _ in edges[j]) + 1
    return cost


def _pathpiece_longest(edges) -> list[int]:
    cost = _min_costs(edges)
    out = []
    j = len(edges) - 1
    while j > 0:
        # edges come by increasing start: the first optimal one is the longest last token
        i, tid = next(e for e in edges[j] if cost[e[0]] + 1 == cost[j])
        out.append(tid)
        j = i
    out.reverse()
    return out


def pathpiece_table(idx: VocabIndex, data: bytes, uniform: bool = False):
    """Backward-sampling table over minimal segmentations. ``uniform``: each optimal edge weighted
    by the number of minimal paths reaching its start, so a draw is uniform over all minimal
    segmentations; otherwise every optimal last token at a position is equally likely."""
    edges = idx.lattice(data)
    cost = _min_costs(edges)
    ways = [1] + [0] * (len(edges) - 1)
    table: list = [([], [])]
    for j in range(1, len(edges)):
        cands = [(i, tid) for i, tid in edges[j] if cost[i] + 1 == cost[j]]
        cum = list(itertools.accumulate(ways[i] for i, _ in cands))
        ways[j] = cum[-1]
        table.append((cands, cum if uniform else list(range(1, len(cands) + 1))))
    return table


# ---------------------------------------------------------------------- public encoders
def _cached(fn: Callable[[bytes], list[int]]) -> Callable[[bytes], list[int]]:
    cache: dict[bytes, list[int]] = {}

    def piece(data: bytes) -> list[int]:
        hit = cache.get(data)
        if hit is None:
            hit = cache[data] = fn(data)
        return hit

    return piece


def encode_longest_prefix(tok, text: str, allowed_special=(), disallowed_special="all") -> list[int]:
    """Greedy longest-prefix match, left to right (WordPiece-style)."""
    idx = vocab_index(tok)
    return encode_with(tok, text, _cached(lambda d: longest_prefix_piece(idx, d)), allowed_special, disallowed_special)


def encode_longest_suffix(tok, text: str, allowed_special=(), disallowed_special="all") -> list[int]:
    """Greedy longest-suffix match, right to left."""
    idx = vocab_index(tok)
    return encode_with(tok, text, _cached(lambda d: longest_suffix_piece(idx, d)), allowed_special, disallowed_special)


def encode_longest_token(tok, text: str, allowed_special=(), disallowed_special="all") -> list[int]:
    """Longest token anywhere in the piece first, then recurse left and right."""
    idx = vocab_index(tok)
    return encode_with(tok, text, _cached(lambda d: longest_token_piece(idx, d)), allowed_special, disallowed_special)


def encode_pathpiece(tok, text: str, allowed_special=(), tie_break: str = "longest",
                     seed: int | None = None, disallowed_special="all") -> list[int]:
    """PathPiece: fewest tokens per pretoken; options tie_break=longest|random|uniform, seed."""
    idx = vocab_index(tok)
    if tie_break == "longest":
        fn = _cached(lambda d: pathpiece_piece(idx, d))
    elif tie_break in ("random", "uniform"):
        rng = random.Random(seed)
        tables: dict[bytes, list] = {}
        uniform = tie_break == "uniform"

        def fn(data: bytes) -> list[int]:
            table = tables.get(data)
            if table is None:
                table = tables[data] = pathpiece_table(idx, data, uniform)
            return draw(table, rng)
    else:
        raise InvalidInputError(f"tie_break must be 'longest', 'random' or 'uniform', got {tie_break!r}")
    return encode_with(tok, text, fn, allowed_special, disallowed_special)


METHOD_FUNCTIONS: dict[str, Callable] = {
    "longest-prefix": encode_longest_prefix,
    "longest-suffix": encode_longest_suffix,
    "longest-token": encode_longest_token,
    "pathpiece": encode_pathpiece,
}


def segmentations(idx: VocabIndex, data: bytes) -> Iterable[list[int]]:
    """Every segmentation of ``data`` (exponential: for tests on short strings)."""
    if not data:
        yield []
        return
    for j, tid in idx.starting_at(data, 0):
        for rest in segmentations(idx, data[j:]):
            yield [tid] + rest


# ---------------------------------------------------------------------- registry and bound methods
def encode_merge(tok, text: str, allowed_special=(), disallowed_special="all") -> list[int]:
    """Standard BPE: apply merges in rank order (the tokenizer's own encode)."""
    return tok.encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special)


# Other names for the same method (kept out of tables so a method is listed once).
METHOD_ALIASES = {"greedy": "longest-prefix"}


def method_registry() -> dict[str, Callable]:
    """Every inference method by name: fn(tok, text, allowed_special=(), **options) -> ids."""
    from ..models.unigram import encode_unigram_sample, encode_viterbi
    from .stochastic import encode_bpe_dropout, encode_stochastok

    return {
        "merge": encode_merge,
        "greedy": encode_longest_prefix,
        **METHOD_FUNCTIONS,
        "viterbi": encode_viterbi,
        "unigram-sample": encode_unigram_sample,
        "stochastok": encode_stochastok,
        "bpe-dropout": encode_bpe_dropout,
    }


_NOT_OPTIONS = ("tok", "text", "allowed_special", "disallowed_special", "rng")


def method_options(fn: Callable) -> list[str]:
    import inspect

    return [p for p in inspect.signature(fn).parameters if p not in _NOT_OPTIONS]


def check_options(name: str, fn: Callable, options: dict) -> None:
    accepted = method_options(fn)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidInputError(f"method {name!r} does not take option(s) {unknown}; it takes {accepted or 'none'}")


METHOD_FORMAT = "tokenlab-method"


class MethodTokenizer:
    """A tokenizer bound to an inference method and its options, saved as one JSON file
    (``"format": "tokenlab-method"``) so every command that loads tokenizers uses the method.
    Stochastic methods draw from one generator seeded by ``seed``: a reproducible stream."""

    format_name = METHOD_FORMAT

    def __init__(self, base, method: str, **options):
        registry = method_registry()
        if method not in registry:
            raise InvalidInputError(f"unknown method {method!r}; choose from {', '.join(sorted(registry))}")
        if isinstance(base, MethodTokenizer):
            raise InvalidInputError("tokenizer is already bound to a method")
        self.fn = registry[method]
        check_options(method, self.fn, options)
        self.base, self.method, self.options = base, method, dict(options)
        self._rng = random.Random(options.get("seed")) if "rng" in _signature(self.fn) else None

    def __getattr__(self, name):  # vocab, decode, special_tokens, ... come from the base tokenizer
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def __len__(self) -> int:
        return len(self.base)

    def __repr__(self) -> str:
        return f"MethodTokenizer({self.base!r}, method={self.method!r}, options={self.options})"

    def encode(self, text: str, *, allowed_special=(), disallowed_special="all", as_array: bool = False):
        opts = dict(self.options)
        if self._rng is not None:
            opts.pop("seed", None)
            opts["rng"] = self._rng
        ids = self.fn(self.base, text, allowed_special=allowed_special, disallowed_special=disallowed_special, **opts)
        if as_array:
            import numpy as np

            return np.asarray(ids, dtype=np.uint32)
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        return self.encode(text, disallowed_special=())

    def encode_batch(self, texts, **kwargs) -> list[list[int]]:
        return [self.encode(t, **kwargs) for t in texts]

    def to_dict(self) -> dict:
        return {"format": METHOD_FORMAT, "version": 1, "method": self.method, "options": self.options,
                "tokenizer": self.base.to_dict()}

    def save(self, path) -> None:
        import json

        from ..io.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False))

    def to_hf_dict(self) -> dict:
        """tokenizer.json where HF can express the method; a clear error where it cannot."""
        from ..io.hf_json import to_byte_level, to_hf_dict
        from ..models.unigram import UnigramModel

        base, m = self.base, self.method
        if isinstance(base, UnigramModel):
            if m in ("viterbi", "merge") and not self.options:
                return base.to_hf_dict()
        elif m == "merge":
            return to_hf_dict(base)
        elif m == "viterbi" and self.options.get("corpus") is not None:
            # scores are fixed by the corpus, so this is a plain HF Unigram over the BPE vocabulary
            from ..models.unigram import unigram_for

            return unigram_for(base, "", self.options["corpus"], self.options.get("smoothing", 1.0)).to_hf_dict()
        elif m in ("greedy", "longest-prefix"):
            # WordPiece with an empty continuation prefix is exactly greedy longest-prefix matching
            d = to_hf_dict(base)
            d["model"] = {"type": "WordPiece", "unk_token": to_byte_level(b"\x00"), "continuing_subword_prefix": "",
                          "max_input_chars_per_word": 1 << 30,
                          "vocab": {to_byte_level(t): i for t, i in base.vocab.items()}}
            return d
        elif m == "bpe-dropout":
            # HF draws its own unseeded randomness, and its queue lets stale entries re-admit skipped
            # merges: equal to ours on a single merge, more merging on longer words (see docs)
            d = to_hf_dict(base)
            d["model"]["dropout"] = float(self.options.get("p", 0.1)) or None
            return d
        raise FormatError(f"HF tokenizer.json cannot express method {m!r} over a {type(base).__name__}; "
                          f"save it in tokenlab's {METHOD_FORMAT!r} format instead")

    def save_hf(self, path) -> None:
        import json

        from ..io.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_hf_dict(), ensure_ascii=False))


def _signature(fn) -> list[str]:
    import inspect

    return list(inspect.signature(fn).parameters)


def method_tokenizer_from_dict(d: dict) -> MethodTokenizer:
    from ..models.unigram import FORMAT_NAME, UnigramModel
    from ..tokenizer import Tokenizer

    if not isinstance(d, dict) or d.get("format") != METHOD_FORMAT:
        raise FormatError(f"not a {METHOD_FORMAT} file")
    base = d.get("tokenizer")
    if not isinstance(base, dict) or not isinstance(d.get("method"), str) or not isinstance(d.get("options", {}), dict):
        raise FormatError(f"corrupt {METHOD_FORMAT} file: needs \"method\", \"options\" and \"tokenizer\"")
    base = UnigramModel.from_dict(base) if base.get("format") == FORMAT_NAME else Tokenizer.from_dict(base)
    try:
        return MethodTokenizer(base, d["method"], **d.get("options", {}))
    except InvalidInputError as exc:
        raise FormatError(f"corrupt {METHOD_FORMAT} file: {exc}") from None


def load_method_tokenizer(path) -> MethodTokenizer:
    import json

    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path}: corrupt JSON ({exc})") from None
    return method_tokenizer_from_dict(d)


def register_format() -> None:
    from ..io import JSON_FORMATS

    JSON_FORMATS.setdefault(METHOD_FORMAT, "tokenlab.encode.methods:load_method_tokenizer")


register_format()
