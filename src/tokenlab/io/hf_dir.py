"""A Hugging Face tokenizer directory: what ``transformers.AutoTokenizer.from_pretrained(dir)`` loads.

tokenizer.json alone leaves ``PreTrainedTokenizerFast`` without bos/eos/pad/unk (so ``padding=True`` fails)
and with transformers' default clean-up of decoded spaces. The directory adds tokenizer_config.json (the
class, the named special tokens, ``clean_up_tokenization_spaces: false``, the chat template) and
special_tokens_map.json. The tokens named bos/eos/pad/unk must already be special tokens of the tokenizer: the
ids stay tokenlab's. ``add_bos``/``add_eos`` put a TemplateProcessing post-processor in tokenizer.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import FormatError
from .atomic import atomic_write_text

ROLES = ("bos", "eos", "pad", "unk")


def _tokenizer_json(tok) -> dict:
    from ..tokenizer import Tokenizer

    if isinstance(tok, Tokenizer):
        from .hf_json import to_hf_dict

        return to_hf_dict(tok)
    if hasattr(tok, "to_hf_dict"):
        return tok.to_hf_dict()
    raise FormatError(f"{type(tok).__name__} cannot be written as an HF tokenizer directory")


def hf_dir_files(tok, *, bos: str | None = None, eos: str | None = None, pad: str | None = None,
                 unk: str | None = None, chat_template: str | None = None, add_bos: bool = False,
                 add_eos: bool = False, model_max_length: int | None = None) -> dict[str, dict]:
    """File name -> JSON content of the directory (nothing written)."""
    tokenizer = _tokenizer_json(tok)
    ids = {t["content"]: t["id"] for t in tokenizer.get("added_tokens", [])}
    named = {role: value for role, value in zip(ROLES, (bos, eos, pad, unk)) if value is not None}
    for role, value in named.items():
        if value not in ids:
            known = ", ".join(sorted(ids)[:8]) or "none"
            raise FormatError(f"--{role} {value!r} is not a special token of this tokenizer (its special tokens: "
                              f"{known}); train or convert it with that special token first")
    for flag, role in ((add_bos, "bos"), (add_eos, "eos")):
        if flag and role not in named:
            raise FormatError(f"adding a {role} token to every text needs --{role}")
    if add_bos or add_eos:
        def around(sequence: str, type_id: int) -> list[dict]:  # the second text's bos/eos have its type id
            head = [{"SpecialToken": {"id": bos, "type_id": type_id}}] if add_bos else []
            tail = [{"SpecialToken": {"id": eos, "type_id": type_id}}] if add_eos else []
            return [*head, {"Sequence": {"id": sequence, "type_id": type_id}}, *tail]

        single = around("A", 0)
        pair = [*single, *around("B", 1)]
        specials = {t: {"id": t, "ids": [ids[t]], "tokens": [t]}
                    for t in ((bos,) if add_bos else ()) + ((eos,) if add_eos else ())}
        tokenizer["post_processor"] = {"type": "TemplateProcessing", "single": single, "pair": pair,
                                       "special_tokens": specials}
    config: dict = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(model_max_length) if model_max_length else 1_000_000_000_000_000_019_884_624_838_656,
        "added_tokens_decoder": {
            str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
            for t in tokenizer.get("added_tokens", [])
        },
    }
    config.update({f"{role}_token": value for role, value in named.items()})
    if add_bos:
        config["add_bos_token"] = True
    if add_eos:
        config["add_eos_token"] = True
    if chat_template is not None:
        config["chat_template"] = chat_template
    special_map = {f"{role}_token": value for role, value in named.items()}
    return {"tokenizer.json": tokenizer, "tokenizer_config.json": config, "special_tokens_map.json": special_map}


def write_hf_dir(tok, directory, **options) -> list[Path]:
    """Write the directory (created if missing); options as :func:`hf_dir_files`. Every file is checked
    before any is written, so a refused option leaves nothing behind."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise FormatError(f"{directory} exists and is not a directory")
    files = hf_dir_files(tok, **options)
    written = []
    for name, content in files.items():
        path = directory / name
        atomic_write_text(path, json.dumps(content, ensure_ascii=False, indent=1 if name != "tokenizer.json" else None))
        written.append(path)
    return written
