"""BPE training: a hand-worked case, the incremental counts, and equality with HF's BpeTrainer."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tokenlab import InvalidInputError, train_bpe
from tokenlab.io.hf_json import to_byte_level
from tokenlab.train.bpe import BPETrainer


def test_hand_worked_example():
    # aaabdaaabac: aa(4) -> Z; then ab(2) ties Za(2) and wins on HF order (a,b < Z,a);
    # then ZY(2); then four pairs of count 1: (a,c) has the smallest keys.
    tok = train_bpe(["aaabdaaabac"], vocab_size=260, pretokenizer=None)
    assert tok.merges == [(b"a", b"a"), (b"a", b"b"), (b"aa", b"ab"), (b"a", b"c")]
    assert tok.encode("aaabdaaabac") == [tok.vocab[b"aaab"], ord("d"), tok.vocab[b"aaab"], tok.vocab[b"ac"]]


def test_min_frequency_stops_training():
    tok = train_bpe(["aaabdaaabac"], vocab_size=300, pretokenizer=None, min_frequency=2)
    assert [a + b for a, b in tok.merges] == [b"aa", b"ab", b"aaab"]


def test_incremental_counts_equal_a_full_recount(real_docs):
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import count_pretokens

    trainer = BPETrainer(count_pretokens(real_docs[:40], PreTokenizer("gpt2")))
    for _ in range(200):
        pair, count = trainer.best_pair()
        recount = Counter()
        for w, c in zip(trainer.words, trainer.counts):
            for p in zip(w, w[1:]):
                recount[p] += c
        assert count == recount[pair] == max(recount.values())
        trainer.merge(pair)
    live = {p: c for p, c in trainer.pair_counts.items() if c}
    recount = Counter()
    for w, c in zip(trainer.words, trainer.counts):
        for p in zip(w, w[1:]):
            recount[p] += c
    assert live == dict(recount)


def hf_merges(docs, vocab_size, pattern=None, specials=(), min_frequency=0):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    from tokenlab.io.hf_json import to_oniguruma

    hf = Tokenizer(models.BPE())
    if pattern is None:
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        hf.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(to_oniguruma(pattern)), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    hf.train_from_iterator(docs, trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    merges = json.loads(hf.to_str())["model"]["merges"]
    return [m.split(" ") if isinstance(m, str) else m for m in merges]


@pytest.mark.parametrize("pattern, vocab_size, specials, min_frequency", [
    ("gpt2", 2500, (), 0),
    ("cl100k", 2000, ("<|endoftext|>", "<pad>"), 0),
    ("o200k", 1500, (), 5),
])
def test_merges_equal_hf_bpe_trainer(real_docs, pattern, vocab_size, specials, min_frequency):
    from tokenlab.pretokenize import PATTERNS

    docs = real_docs[::3]
    ours = train_bpe(docs, vocab_size=vocab_size, pretokenizer=pattern, special_tokens=specials,
                     min_frequency=min_frequency)
    theirs = hf_merges(docs, vocab_size, None if pattern == "gpt2" else PATTERNS[pattern], specials, min_frequency)
    assert len(ours.merges) == len(theirs) > 500
    assert [[to_byte_level(a), to_byte_level(b)] for a, b in ours.merges] == theirs
    assert len(ours) == vocab_size


def test_bad_training_arguments():
    with pytest.raises(InvalidInputError, match="vocab_size"):
        train_bpe(["abc"], vocab_size=100)
    with pytest.raises(InvalidInputError, match="str"):
        train_bpe([b"bytes"], vocab_size=300)
    tok = train_bpe([], vocab_size=300)
    assert tok.merges == [] and tok.decode(tok.encode("héllo")) == "héllo"
