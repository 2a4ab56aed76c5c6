"""tiktoken rank files: one ``base64(token) rank`` line per ordinary token."""

from __future__ import annotations

import base64
import binascii

from ..encode.bpe import bpe_merge
from ..errors import FormatError
from ..pretokenize import PreTokenizer
from .atomic import atomic_write_text

MAX_RANK = (1 << 31) - 1


def _b64decode_strict(text: bytes) -> bytes:
    try:  # Python >= 3.11: the C decoder validates by itself, 3x faster than base64.b64decode(validate=True)
        return binascii.a2b_base64(text, strict_mode=True)
    except TypeError:  # pragma: no cover - Python 3.10
        return base64.b64decode(text, validate=True)


def parse_tiktoken_ranks(data: bytes, where: str = "") -> dict[bytes, int]:
    """``{token bytes: rank}``; ranks must be unique and contiguous from 0 (a gap means a damaged file).

    A file cut exactly at a line end is still a valid, smaller rank file and cannot be told apart
    (tiktoken loads it too); a cut inside a line gives a bad line or a repeated rank, which are errors.
    """
    from .validate import fail, first_gap

    ranks: dict[bytes, int] = {}
    seen: dict[int, int] = {}
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            tok, rank = line.split()
            token = _b64decode_strict(tok)
            rank = int(rank)
        except (ValueError, binascii.Error):
            raise fail(where, f"line {n}", f"not 'base64 rank': {line[:60]!r}") from None
        if rank < 0 or rank > MAX_RANK:
            raise fail(where, f"line {n}", f"rank {rank} is out of range (0..{MAX_RANK})")
        if token in ranks:
            raise fail(where, f"line {n}", f"token {token[:40]!r} appears twice (ranks {ranks[token]} and {rank})")
        if rank in seen:
            raise fail(where, f"line {n}", f"rank {rank} is also on line {seen[rank]} (truncated or edited file?)")
        ranks[token] = rank
        seen[rank] = n
    if not ranks:
        raise fail(where, "ranks", "tiktoken file has no tokens")
    top = max(seen)
    if top >= len(ranks):
        raise fail(where, "ranks", f"ranks are not contiguous: {top + 1 - len(ranks)} missing below {top} "
                   f"(first: {first_gap(seen)}); the file is truncated or edited")
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


# The pre-tokenizer and special tokens are not in a .tiktoken file; OpenAI's published files are
# recognised by their SHA-256 (the hashes tiktoken itself checks) so they load complete.
_GPT_SPECIALS = {"<|endoftext|>": 50256}
KNOWN_FILES: dict[str, tuple[str, str, dict[str, int]]] = {
    "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930": ("r50k_base", "gpt2", _GPT_SPECIALS),
    "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069": ("p50k_base", "gpt2", _GPT_SPECIALS),
    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7": (
        "cl100k_base", "cl100k",
        {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260,
         "<|endofprompt|>": 100276}),
    "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d": (
        "o200k_base", "o200k", {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}),
}


def read_tiktoken(path, pattern: str | None = None, special_tokens: dict[str, int] | None = None, name: str = ""):
    """Load a ``.tiktoken`` file. Known OpenAI files get their pattern and specials; for other
    files name the ``pattern`` (default ``"cl100k"``) and ``special_tokens``."""
    import hashlib

    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    known_name, known_pattern, known_specials = KNOWN_FILES.get(digest, ("", None, {}))
    ranks = parse_tiktoken_ranks(data, str(path))
    if special_tokens is None:
        special_tokens = known_specials
    return tokenizer_from_ranks(ranks, pattern or known_pattern or "cl100k", special_tokens,
                                name=name or known_name or str(path), digest=digest)


def cached_merges_from_ranks(ranks: dict[bytes, int], digest: str | None) -> list[tuple[bytes, bytes]]:
    """:func:`merges_from_ranks`, remembered on disk by the file's SHA-256 (it is most of a cold load)."""
    from .derived_cache import load_array, save_array

    if digest:
        arr = load_array("tiktoken-merges-v1", digest)
        if arr is not None and arr.ndim == 2 and arr.shape[1] == 2:
            by_id = {i: t for t, i in ranks.items()}
            try:  # Tokenizer() validates every merge against the vocabulary again
                return [(by_id[a], by_id[b]) for a, b in arr.tolist()]
            except (KeyError, TypeError):
                pass
    merges = merges_from_ranks(ranks)
    if digest:
        import numpy as np

        save_array("tiktoken-merges-v1", digest,
                   np.asarray([(ranks[a], ranks[b]) for a, b in merges], dtype=np.uint32).reshape(-1, 2))
    return merges


def tokenizer_from_ranks(ranks, pattern, special_tokens, name="", digest: str | None = None):
    from ..tokenizer import Tokenizer

    return Tokenizer(
        vocab=dict(ranks),
        merges=cached_merges_from_ranks(ranks, digest),
        pretokenizer=pattern if isinstance(pattern, PreTokenizer) else PreTokenizer(pattern),
        special_tokens=dict(special_tokens),
        ignore_merges=True,
        any_split=True,
        name=name,
    )


def write_tiktoken(tokenizer, path) -> None:
    """Write ranks = ids (tiktoken requires the rank order to be the merge order)."""
    order = sorted(tokenizer.vocab.items(), key=lambda kv: kv[1])
    lines = [f"{base64.b64encode(tok).decode()} {i}" for tok, i in order]
    atomic_write_text(path, "\n".join(lines) + "\n")
