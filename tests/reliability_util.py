"""Small hand-made tokenizer files for the reliability tests (no training, so they build in milliseconds)."""

from __future__ import annotations

import base64
import json

from tokenlab.tokenizer import Tokenizer

WORDS = [b"he", b"ll", b"hell", b"o", b" w", b"or", b" wor", b"ld", b" world", b"in", b"ing", b" t", b"th", b" th",
         b"the", b" the"]


def small_tokenizer(pattern: str = "gpt2", specials: dict[str, int] | None = None) -> Tokenizer:
    """Byte-level BPE with a few real merges; ids: bytes 0..255, then merges in order, then specials."""
    vocab = {bytes([b]): b for b in range(256)}
    merges = []
    for w in WORDS:
        if w in vocab:
            continue
        for k in range(len(w) - 1, 0, -1):
            if w[:k] in vocab and w[k:] in vocab:
                merges.append((w[:k], w[k:]))
                vocab[w] = len(vocab)
                break
    if specials is None:
        specials = {"<|endoftext|>": len(vocab)}
    return Tokenizer(vocab=vocab, merges=merges, pretokenizer=pattern, special_tokens=specials, name="small")


def tokenlab_json(tok: Tokenizer | None = None) -> dict:
    return (tok or small_tokenizer()).to_dict()


def tiktoken_text(tok: Tokenizer | None = None) -> str:
    tok = tok or small_tokenizer()
    order = sorted(tok.vocab.items(), key=lambda kv: kv[1])
    return "".join(f"{base64.b64encode(t).decode()} {i}\n" for t, i in order)


def tekken_json(tok: Tokenizer | None = None, n_special: int = 5) -> dict:
    tok = tok or small_tokenizer(pattern="tekken")
    order = sorted(tok.vocab.items(), key=lambda kv: kv[1])
    return {
        "config": {"pattern": tok.pretokenizer.regex_str, "num_vocab_tokens": len(order),
                   "default_vocab_size": len(order) + n_special, "default_num_special_tokens": n_special,
                   "version": "v7"},
        "vocab": [{"rank": i, "token_bytes": base64.b64encode(t).decode(), "token_str": None} for t, i in order],
        "special_tokens": [{"rank": k, "token_str": f"<S{k}>", "is_control": True} for k in range(3)],
    }


def metaspace_json() -> dict:
    """A Llama-style (Metaspace, byte fallback) tokenizer.json small enough to write by hand."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for t in ["▁", "a", "b", "c", "h", "e", "l", "o", "▁a", "▁h", "he", "ll", "▁he", "▁hell", "▁hello"]:
        vocab[t] = len(vocab)
    merges = ["▁ a", "▁ h", "h e", "l l", "▁h e", "▁he ll", "▁hell o"]
    return {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": t, "special": True, "normalized": False, "single_word": False,
                          "lstrip": False, "rstrip": False} for t, i in (("<unk>", 0), ("<s>", 1), ("</s>", 2))],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                          {"type": "Replace", "pattern": {"String": " "},
                                                           "content": "▁"}]},
        "pre_tokenizer": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


def dump(path, obj) -> str:
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return str(path)
