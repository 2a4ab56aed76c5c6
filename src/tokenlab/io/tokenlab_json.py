"""tokenlab's own JSON for byte-level BPE (``"format": "tokenlab"``) and the research formats built on it
(``tokenlab-superword``, ``tokenlab-scaffold``: the same fields plus their own): vocab as [base64, id] pairs,
merges as [id, id] pairs, the pre-tokenizer, special tokens. Every field is checked on reading."""

from __future__ import annotations

import base64
import binascii

from ..errors import FormatError, InvalidInputError
from ..pretokenize import PreTokenizer
from ..tokenizer import FORMAT_VERSION
from .validate import check_ids, check_int, check_specials, check_type, fail, id_limit


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def bpe_to_dict(tok, format_name: str = "tokenlab", name: str | None = None) -> dict:
    """The fields of a byte-level BPE (``tok``: vocab, merges, pretokenizer, special_tokens; for the plain
    format also its merge switches)."""
    order = sorted(tok.vocab.items(), key=lambda kv: kv[1])
    out = {
        "format": format_name,
        "version": FORMAT_VERSION,
        "name": tok.name if name is None else name,
        "pretokenizer": tok.pretokenizer.to_dict(),
    }
    if format_name == "tokenlab":
        out["ignore_merges"], out["any_split"] = tok.ignore_merges, tok.any_split
    v = tok.vocab
    out["vocab"] = [[_b64(t), i] for t, i in order]
    out["merges"] = [[v[a], v[b]] for a, b in tok.merges]
    out["special_tokens"] = dict(tok.special_tokens)  # a copy: editing the dict must not change the tokenizer
    return out


def bpe_fields(d: dict, where: str = "", format_name: str = "tokenlab") -> tuple[dict, dict[int, bytes]]:
    """`Tokenizer` keywords (vocab, merges, pretokenizer, special_tokens, name; for the plain format also
    ignore_merges and any_split) from :func:`bpe_to_dict`'s fields, checked; and the id -> token bytes map."""
    if not isinstance(d, dict) or d.get("format") != format_name:
        raise fail(where, "format", f"not a {format_name} tokenizer file (missing \"format\": \"{format_name}\")")
    version = check_int(d.get("version", 0), where, "version")
    if version > FORMAT_VERSION:
        raise fail(where, "version", f"{version} is newer than this tokenlab supports ({FORMAT_VERSION})")
    vocab_list = check_type(d.get("vocab"), list, where, "vocab", "a list of [base64, id] pairs")
    merge_list = check_type(d.get("merges", []), list, where, "merges", "a list of [id, id] pairs")
    specials_raw = check_type(d.get("special_tokens") or {}, dict, where, "special_tokens",
                              "an object {token: id}")
    pre = d.get("pretokenizer") or {"pattern": None}
    check_type(pre, dict, where, "pretokenizer", "an object {pattern, split_digits}")
    pattern = pre.get("pattern")
    if pattern is not None and not isinstance(pattern, str):
        raise fail(where, "pretokenizer.pattern", f"expected a string or null, got {type(pattern).__name__}")
    split_digits = pre.get("split_digits")
    if split_digits is not None:
        check_int(split_digits, where, "pretokenizer.split_digits", low=1, high=33)
    limit = id_limit(len(vocab_list) + len(specials_raw))

    def pairs():
        for n, entry in enumerate(vocab_list):
            if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str):
                raise fail(where, f"vocab[{n}]", "expected a [base64 string, id] pair")
            try:
                yield base64.b64decode(entry[0], validate=True), entry[1]
            except (binascii.Error, ValueError):
                raise fail(where, f"vocab[{n}]", f"{entry[0][:40]!r} is not base64") from None

    vocab = check_ids(pairs(), where, "vocab", limit=limit)
    by_id = {i: t for t, i in vocab.items()}
    merges = []
    for n, m in enumerate(merge_list):
        if (not isinstance(m, list) or len(m) != 2 or any(isinstance(x, bool) or not isinstance(x, int)
                                                               for x in m)):
            raise fail(where, f"merges[{n}]", "expected an [id, id] pair")
        if m[0] not in by_id or m[1] not in by_id:
            raise fail(where, f"merges[{n}]", f"{m} refers to an id that is not in vocab")
        merges.append((by_id[m[0]], by_id[m[1]]))
    if len(set(merges)) != len(merges):
        raise fail(where, "merges", "a merge is listed twice")
    specials = check_specials(specials_raw, where, "special_tokens", limit=limit, taken=by_id)
    fields = {"vocab": vocab, "merges": merges, "special_tokens": specials, "name": str(d.get("name", "")),
              "pretokenizer": PreTokenizer(pattern=pattern, split_digits=split_digits)}
    if format_name == "tokenlab":
        for key in ("ignore_merges", "any_split"):
            fields[key] = check_type(d.get(key, False), bool, where, key, "true or false")
    return fields, by_id


def tokenizer_from_dict(d: dict, where: str = "", cls=None):
    """A `Tokenizer` (or ``cls``) from tokenlab json content; ``where`` names the file in errors."""
    if cls is None:
        from ..tokenizer import Tokenizer as cls
    fields, _ = bpe_fields(d, where)
    try:
        return cls(**fields)
    except (InvalidInputError, FormatError) as exc:
        raise fail(where, "tokenizer", str(exc)) from None
