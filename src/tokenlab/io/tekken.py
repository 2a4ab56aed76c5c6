"""Mistral tekken.json: tiktoken-style ranks plus a block of special tokens before them."""

from __future__ import annotations

import base64
import binascii

from .tiktoken_file import tokenizer_from_ranks

# Specials of tekken files that do not list their own (mistral-common's legacy set).
LEGACY_SPECIALS = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
                   "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]",
                   "[IMG_END]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]",
                   "[TOOL_CONTENT]"]


# tekken files reserve 1000 special ids; more than this many is not a tokenizer, it is an attack on memory
MAX_SPECIALS = 1 << 16


def read_tekken(path, vocab_size: int | None = None):
    """Ids are ``rank + num_special_tokens``, as mistral-common's Tekkenizer assigns them."""
    from .validate import check_int, check_str, check_type, fail, load_json

    where = str(path)
    d = check_type(load_json(path), dict, where, "tekken.json", "an object")
    cfg = check_type(d.get("config"), dict, where, "config", "an object")
    entries = check_type(d.get("vocab"), list, where, "vocab", "a list")
    n_special = check_int(cfg.get("default_num_special_tokens"), where, "config.default_num_special_tokens",
                          high=MAX_SPECIALS + 1)
    size_field = "config.default_vocab_size" if vocab_size is None else "vocab_size"
    total = check_int(cfg.get("default_vocab_size") if vocab_size is None else vocab_size, where, size_field,
                      high=n_special + len(entries) + 1)
    inner = total - n_special
    if inner < 256:
        raise fail(where, size_field, f"{total} leaves {inner} ordinary tokens after {n_special} specials "
                   "(byte-level needs at least 256)")
    pattern = check_str(cfg.get("pattern"), where, "config.pattern", nonempty=True)
    ranks: dict[bytes, int] = {}
    for n, entry in enumerate(entries[:inner]):
        check_type(entry, dict, where, f"vocab[{n}]", "an object {rank, token_bytes}")
        rank = check_int(entry.get("rank"), where, f"vocab[{n}].rank", high=inner)
        text = check_str(entry.get("token_bytes"), where, f"vocab[{n}].token_bytes")
        try:
            token = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise fail(where, f"vocab[{n}].token_bytes", "not base64") from None
        if token in ranks:
            raise fail(where, f"vocab[{n}]", f"token {token[:40]!r} appears twice")
        ranks[token] = rank
    if len(set(ranks.values())) != inner:
        raise fail(where, "vocab", f"ranks of the first {inner} entries are not 0..{inner - 1}")
    listed = d.get("special_tokens")
    special_list = check_type([] if listed is None else listed, list, where, "special_tokens", "a list")
    names = []
    for n, t in enumerate(special_list):
        check_type(t, dict, where, f"special_tokens[{n}]", "an object")
        names.append(check_str(t.get("token_str"), where, f"special_tokens[{n}].token_str", nonempty=True))
    if listed is None:  # no list at all (an empty one is no specials, only fillers, as mistral-common reads it)
        names = list(LEGACY_SPECIALS)
    names += [f"<SPECIAL_{i}>" for i in range(len(names), n_special)]
    names = names[:n_special]
    if len(set(names)) != len(names):
        raise fail(where, "special_tokens", "a special token is listed twice")
    shifted = {tok: r + n_special for tok, r in ranks.items()}
    tok = tokenizer_from_ranks(ranks, pattern, {}, name=where)
    tok = type(tok)(vocab=shifted, merges=tok.merges, pretokenizer=tok.pretokenizer,
                    special_tokens={s: i for i, s in enumerate(names)},
                    ignore_merges=True, any_split=True, name=where)
    return tok
