"""tiktoken rank files: one ``base64(token) rank`` line per ordinary token."""

from __future__ import annotations

import base64
import binascii

from ..encode.bpe import bpe_merge
from ..errors import FormatError
from ..pretokenize import PreTokenizer
from .atomic import atomic_write_text


def parse_tiktoken_ranks(data: bytes) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            tok, rank = line.split()
            ranks[base64.b64decode(tok, validate=True)] = int(rank)
        except (ValueError, binascii.Error):
            raise FormatError(f"line {n} of tiktoken file is not 'base64 rank': {line[:60]!r}") from None
    if not ranks:
        raise FormatError("tiktoken file has no tokens")
    return ranks


def merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """Recover the ordered merge list implied by tiktoken ranks.

    A multi-byte token of rank r is what BPE makes of its own bytes when only tokens of
    rank < r may form; that last step is its merge. Raises if the ranks are not a BPE.
    """
    vocab = ranks
    by_id = {i: t for t, i in ranks.items()}
    table: dict[tuple[int, int], tuple[int, int]] = {}
    merges: list[tuple[bytes, bytes]] = []
    for tok, r in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(tok) < 2:
            continue
        try:
            parts = bpe_merge([vocab[bytes([b])] for b in tok], table)
        except KeyError:
            raise FormatError(f"token {tok!r} contains a byte that is not a token") from None
        if len(parts) != 2:
            raise FormatError(f"token {tok!r} (rank {r}) is not reachable by one merge of lower-ranked tokens")
        merges.append((by_id[parts[0]], by_id[parts[1]]))
        for k in range(1, len(tok)):
            left, right = vocab.get(tok[:k]), vocab.get(tok[k:])
            if left is not None and right is not None and (left, right) not in table:
                table[(left, right)] = (r, r)
    return merges


def read_tiktoken(path, pattern: str = "cl100k", special_tokens: dict[str, int] | None = None, name: str = ""):
    """Load a ``.tiktoken`` file; ``pattern`` and specials are not in the file, so name them."""
    with open(path, "rb") as f:
        ranks = parse_tiktoken_ranks(f.read())
    return tokenizer_from_ranks(ranks, pattern, special_tokens or {}, name=name or str(path))


def tokenizer_from_ranks(ranks, pattern, special_tokens, name=""):
    from ..tokenizer import Tokenizer

    return Tokenizer(
        vocab=dict(ranks),
        merges=merges_from_ranks(ranks),
        pretokenizer=pattern if isinstance(pattern, PreTokenizer) else PreTokenizer(pattern),
        special_tokens=dict(special_tokens),
        ignore_merges=True,
        any_split=True,
        name=name,
    )


def write_tiktoken(tokenizer, path) -> None:
    """Write ranks = ids (tiktoken requires the rank order to be the merge order)."""
    lines = [f"{base64.b64encode(tok).decode()} {i}" for tok, i in sorted(tokenizer.vocab.items(), key=lambda kv: kv[1])]
    atomic_write_text(path, "\n".join(lines) + "\n")
