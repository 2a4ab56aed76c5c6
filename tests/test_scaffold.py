"""Scaffold-BPE: scaffold tokens help build longer tokens but never appear in the output."""

from __future__ import annotations

import pydoc_data.topics

import pytest
from click.testing import CliRunner

import tokenlab.models  # noqa: F401 - registers the scaffold JSON format
from tokenlab import FormatError, load_tokenizer, save_tokenizer, train_bpe
from tokenlab.cli import main
from tokenlab.demo import demo_corpus
from tokenlab.models.scaffold import ScaffoldTokenizer
from tokenlab.train.scaffold import train_scaffold

VOCAB = 1500


@pytest.fixture(scope="module")
def prose():
    topics = pydoc_data.topics.topics
    docs = [topics[k] for k in sorted(topics)]
    cut = int(len(docs) * 0.8)
    return docs[:cut], "".join(docs[cut:])


@pytest.fixture(scope="module")
def scaffold(prose):
    return train_scaffold(prose[0], VOCAB, pretokenizer="gpt2", special_tokens=["<|endoftext|>"])


def test_hand_example_marks_scaffold():
    """'abc' x10, 'de' x5. Merges: a+b (10), ab+c (10): now 'ab' occurs 0 times on its own,
    fewer than the next pair d+e (5), so 'ab' is scaffold. Then d+e."""
    tok = train_scaffold(["abc"] * 10 + ["de"] * 5, 256 + 3, pretokenizer="gpt2")
    assert tok.scaffold == {b"ab"}
    assert tok.merges == [(b"a", b"b"), (b"ab", b"c"), (b"d", b"e")]
    assert tok.encode("abc") == [tok.vocab[b"abc"]]
    assert tok.encode("ab") == [ord("a"), ord("b")]  # plain BPE would give the 'ab' token
    # ids the model sees are contiguous: 'abc', 'de' at 256, 257; the scaffold token comes last
    assert tok.vocab[b"abc"] == 256 and tok.vocab[b"de"] == 257 and tok.vocab[b"ab"] == 258


def test_hand_example_scaffold_returns():
    """As above plus 'ab' x4 and 'fg' x3: 'ab' (4 on its own) becomes scaffold when d+e (5) is
    next, and returns to the vocabulary once the best pair f+g (3) is rarer than it."""
    tok = train_scaffold(["abc"] * 10 + ["ab"] * 4 + ["de"] * 5 + ["fg"] * 3, 256 + 3, pretokenizer="gpt2")
    assert tok.scaffold == set()
    assert tok.merges == [(b"a", b"b"), (b"ab", b"c"), (b"d", b"e")]
    assert tok.encode("ab") == [tok.vocab[b"ab"]]
    assert tok.encode("fg") == [ord("f"), ord("g")]


def test_output_never_contains_scaffold_tokens(scaffold, prose):
    _, held_out = prose
    text = held_out + demo_corpus()
    ids = scaffold.encode(text)
    assert scaffold.decode(ids) == text
    assert scaffold.scaffold, "expected some scaffold tokens on real text"
    assert not set(ids) & scaffold.scaffold_ids
    # the emitted ids are exactly 0..vocab_size-1 (bytes, active tokens, the special)
    assert scaffold.n_active + 1 == VOCAB
    assert max(ids) < VOCAB and min(scaffold.scaffold_ids) == VOCAB
    # more merges than plain BPE at the same output vocabulary
    assert len(scaffold.merges) > VOCAB - 257


def test_scaffold_is_bpe_with_scaffolds_split(scaffold, prose):
    """Encoding = the BPE over all merges, then each scaffold token recursively split back."""
    _, held_out = prose
    base = scaffold.base
    parts = scaffold.parts
    for piece in base.pretokenizer.split(held_out[:20000]):
        plain = base.encode_ordinary(piece)
        expanded = []

        def push(i, out):
            if i in parts:
                push(parts[i][0], out)
                push(parts[i][1], out)
            else:
                out.append(i)

        for i in plain:
            push(i, expanded)
        assert scaffold.encode_ordinary(piece) == expanded


def test_scaffold_tokens_were_rare_on_their_own(scaffold, prose):
    """A scaffold token occurs on its own less often than typical tokens in the BPE encoding."""
    from collections import Counter

    counts = Counter(scaffold.base.encode_ordinary("".join(prose[0])))
    scaffold_mean = sum(counts[i] for i in scaffold.scaffold_ids) / len(scaffold.scaffold_ids)
    active = [i for t, i in scaffold.vocab.items() if len(t) > 1 and i not in scaffold.scaffold_ids]
    active_mean = sum(counts[i] for i in active) / len(active)
    assert scaffold_mean < active_mean / 2


def test_save_load_keeps_scaffold_set(scaffold, tmp_path):
    path = tmp_path / "scaffold.json"
    save_tokenizer(scaffold, path)
    again = load_tokenizer(path)
    assert isinstance(again, ScaffoldTokenizer) and again.scaffold == scaffold.scaffold
    text = demo_corpus()
    assert again.encode(text) == scaffold.encode(text)
    assert again.encode("<|endoftext|>", allowed_special="all") == [scaffold.special_tokens["<|endoftext|>"]]
    with pytest.raises(FormatError):
        save_tokenizer(scaffold, tmp_path / "hf.json", "hf")


def test_corrupt_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "tokenlab-scaffold", "vocab": []}', encoding="utf-8")
    with pytest.raises(FormatError):
        load_tokenizer(bad)


def test_cli_train_encode(prose, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(prose[0][:80]), encoding="utf-8")
    out = tmp_path / "s.json"
    runner = CliRunner()
    res = runner.invoke(main, ["train", str(corpus), "-o", str(out), "--vocab-size", "700", "--algorithm", "scaffold",
                               "--no-progress"])
    assert res.exit_code == 0, res.output
    tok = load_tokenizer(out)
    sample = prose[1][:3000]
    res = runner.invoke(main, ["encode", "-t", str(out), sample])
    ids = [int(x) for x in res.stdout.split()]
    assert ids == tok.encode(sample) and not set(ids) & tok.scaffold_ids
    bpe = train_bpe(prose[0][:80], 700)
    assert len(tok.merges) > len(bpe.merges)
