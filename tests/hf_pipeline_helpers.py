"""Shared by the pipeline tests: tokenizers built and trained with HF ``tokenizers`` itself, adversarial text,
and the comparison of our `PipelineTokenizer` with HF on ids, tokens, offsets and decode."""

from __future__ import annotations

import json
import random
from functools import lru_cache

from tokenlab.demo import demo_corpus
from tokenlab.pipeline import PipelineTokenizer

# pieces that break naive rules: combining marks, emoji ZWJ sequences and modifiers, unassigned and newly
# assigned code points, CJK, RTL, digit and whitespace runs, control and format characters
ATOMS = [" ", "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "\u200b", "\u200d", "\ufeff", "a", "Z", "é", "e\u0301",
         "\u0301", "ﬁ", "①", "½", "ｶﾞ", "가", "\u1100\u1161", "日本", "の", "カ", "ー", "🤖", "👍🏽",
         "👩\u200d👩\u200d👧", "🇫🇷", "İ",
         "ΣΑΣ", "ß", "Ǆ", "σ", "٣", "١٢", "0", "12345", "007", "x", "'s", "n't", "...", "!?", "—", "«»",
         "$", "#", "@", "_", "-", "\u0b55", "\U0001faca", "\U00011bc3", "\u0c8c\u0c84", "\U0001e5d0",
         "\U00031350", "\U000190f1", "\U0003df32",
         "\U000e0001", "\U0010ffff", "\U000f0000", "\x00", "\x07", "\x1f", "\x7f", "\u0085", "\u2028", "▁", "Ġ",
         "שלום", "مرحبا", "नमस्ते", "ไทย", "ᄀ", "\u0b3e", "\u0b47", "㋿", "ꟲ", "\u1c8a", "[MASK]", "<s>"]


@lru_cache(maxsize=1)
def corpus_lines() -> list[str]:
    text = demo_corpus()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[:26] + lines[26:2000:5]


def adversarial(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [rng.choice(ATOMS) for _ in range(rng.randrange(1, 9))]
        if rng.random() < 0.3:
            parts.append(chr(rng.choice([rng.randrange(0x80, 0x3000), rng.randrange(0x10000, 0x40000),
                                         rng.randrange(0xE000, 0xFFFF)])))
        out.append("".join(parts))
    return out


def sample_texts(seed: int = 0, n_adversarial: int = 150) -> list[str]:
    lines = corpus_lines()
    return lines[:26] + lines[26::10] + adversarial(n_adversarial, seed) + ["", " ", "  x  "]


def train(hf, kind: str, vocab_size: int = 800, specials=("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"),
          **trainer_kwargs):
    """Train ``hf``'s model on the demo corpus with HF's own trainer."""
    from tokenizers import trainers

    cls = {"BPE": trainers.BpeTrainer, "WordPiece": trainers.WordPieceTrainer, "WordLevel": trainers.WordLevelTrainer,
           "Unigram": trainers.UnigramTrainer}[kind]
    kwargs = dict(vocab_size=vocab_size, special_tokens=list(specials), show_progress=False)
    if kind == "Unigram":
        kwargs["unk_token"] = "[UNK]"
    kwargs.update(trainer_kwargs)
    hf.train_from_iterator(corpus_lines(), trainer=cls(**kwargs))
    return hf


def ours_of(hf) -> PipelineTokenizer:
    return PipelineTokenizer.from_hf_dict(json.loads(hf.to_str()))


def assert_same(hf, ours, texts, *, offsets: bool = True, decode: bool = True, pairs: bool = False) -> None:
    for text in texts:
        a = hf.encode(text)
        b = ours.encode_full(text)
        assert b.ids == a.ids, (text, a.tokens, b.tokens)
        assert b.tokens == a.tokens, text
        if offsets:
            assert b.offsets == a.offsets, (text, a.tokens, a.offsets, b.offsets)
        assert b.type_ids == a.type_ids and b.attention_mask == a.attention_mask, text
        assert b.special_tokens_mask == a.special_tokens_mask, text
        plain = hf.encode(text, add_special_tokens=False).ids
        assert ours.encode(text, allowed_special="all") == plain, text
        if decode:
            assert ours.decode(a.ids) == hf.decode(a.ids, skip_special_tokens=False), text
            assert ours.decode(a.ids, skip_special_tokens=True) == hf.decode(a.ids), text
    if pairs:
        for x, y in zip(texts[::2], texts[1::2]):
            a, b = hf.encode(x, y), ours.encode_full(x, y)
            assert (b.ids, b.type_ids) == (a.ids, a.type_ids), (x, y)
            if offsets:
                assert b.offsets == a.offsets, (x, y)


def assert_round_trip(hf, ours, texts) -> None:
    """Our tokenizer.json loads in HF and gives HF's ids."""
    from tokenizers import Tokenizer

    again = Tokenizer.from_str(json.dumps(ours.to_hf_dict()))
    own = Tokenizer.from_str(hf.to_str())  # HF reading its own file (a freshly trained Unigram can differ)
    for text in texts:
        assert again.encode(text).ids == own.encode(text).ids, text
