"""Mistral tekken.json: tiktoken-style ranks plus a block of special tokens before them."""

from __future__ import annotations

import base64
import binascii
import json

from ..errors import FormatError
from .tiktoken_file import tokenizer_from_ranks

# Specials of tekken files that do not list their own (mistral-common's legacy set).
LEGACY_SPECIALS = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
                   "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]",
                   "[IMG_END]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]",
                   "[TOOL_CONTENT]"]


def read_tekken(path, vocab_size: int | None = None):
    """Ids are ``rank + num_special_tokens``, as mistral-common's Tekkenizer assigns them."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        cfg = d["config"]
        n_special = int(cfg["default_num_special_tokens"])
        total = int(vocab_size or cfg["default_vocab_size"])
        inner = total - n_special
        ranks = {}
        for entry in d["vocab"][:inner]:
            ranks[base64.b64decode(entry["token_bytes"], validate=True)] = int(entry["rank"])
        names = [t["token_str"] for t in d.get("special_tokens") or []] or list(LEGACY_SPECIALS)
        names += [f"<SPECIAL_{i}>" for i in range(len(names), n_special)]
        pattern = cfg["pattern"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError,
            binascii.Error) as exc:
        raise FormatError(f"{path}: not a tekken file ({exc!r})") from None
    if set(ranks.values()) != set(range(inner)):
        raise FormatError(f"{path}: tekken ranks are not 0..{inner - 1}")
    shifted = {tok: r + n_special for tok, r in ranks.items()}
    tok = tokenizer_from_ranks(ranks, pattern, {}, name=str(path))
    tok = type(tok)(vocab=shifted, merges=tok.merges, pretokenizer=tok.pretokenizer,
                    special_tokens={s: i for i, s in enumerate(names[:n_special])},
                    ignore_merges=True, any_split=True, name=str(path))
    return tok
