"""Character-level BPE with a maximum token length (KL3M char tokenizers)."""

from __future__ import annotations

import pydoc_data.topics
import random

import pytest
from click.testing import CliRunner

import tokenlab.models  # noqa: F401 - registers the char-BPE JSON format
from tokenlab import InvalidInputError, load_tokenizer, save_tokenizer, train_bpe
from tokenlab.cli import main
from tokenlab.demo import demo_corpus
from tokenlab.models.char_bpe import CharBPETokenizer
from tokenlab.train.char_bpe import default_max_chars, train_char_bpe


@pytest.fixture(scope="module")
def prose():
    topics = pydoc_data.topics.topics
    docs = [topics[k] for k in sorted(topics)]
    cut = int(len(docs) * 0.8)
    return docs[:cut], "".join(docs[cut:])


@pytest.fixture(scope="module")
def char_tok(prose):
    return train_char_bpe(prose[0], 1000, pretokenizer="gpt2", special_tokens=["<|endoftext|>"])


def test_hand_example_max_length():
    """'aaaa' with at most 2 characters a token: a+a is the only merge possible; 'aaaaa' -> aa, aa, a."""
    tok = train_char_bpe(["aaaa"] * 5, 256 + 10, pretokenizer=None, max_token_chars=2)
    assert tok.merges == [("a", "a")]
    assert tok.tokens == {"a": 256, "aa": 257}
    assert tok.encode("aaaaa") == [257, 257, 256]


def test_tokens_are_short_and_sizes_exact(char_tok):
    assert char_tok.max_token_chars == 3 == default_max_chars(1000) and default_max_chars(16384) == 4
    assert max(len(t) for t in char_tok.tokens) == 3
    assert char_tok.n_vocab == 1000  # 256 byte fallbacks + characters + merges + 1 special
    assert all(len(a) + len(b) <= 3 for a, b in char_tok.merges)


def test_byte_fallback_makes_decode_exact(char_tok, prose):
    text = prose[1] + demo_corpus() + "unseen: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ 🦜\x00\t"
    ids = char_tok.encode(text)
    assert char_tok.decode(ids) == text
    assert any(i < 256 for i in ids), "unseen characters should fall back to bytes"
    assert char_tok.encode("🦜") == list("🦜".encode())


def _boundaries(tok, s):
    out, pos = set(), 0
    for i in tok.encode(s):
        pos += len(tok.token_bytes(i))
        out.add(pos)
    return out


def test_consistent_boundaries_between_clean_and_noisy_text(char_tok, prose):
    """One-letter typos in 250 held-out sentences: char-BPE boundaries further than 3 bytes from
    the typo are identical to the clean sentence's. Byte-level BPE at the same vocabulary size
    moves some of them (whole-word tokens re-split around the typo)."""
    sentences = [" ".join(s.split()) for s in prose[1].split(". ")]
    sentences = [s for s in sentences if 60 < len(s) < 300 and s.isascii()][:250]
    assert len(sentences) > 200
    bpe = train_bpe(prose[0], 1000, pretokenizer="gpt2")
    moved = {}
    for name, tok in (("char", char_tok), ("bpe", bpe)):
        rng = random.Random(0)
        moved[name] = 0
        for s in sentences:
            i = rng.randrange(5, len(s) - 5)
            if not s[i].isalpha():
                continue
            noisy = s[:i] + ("x" if s[i] != "x" else "q") + s[i + 1:]
            assert tok.decode(tok.encode(noisy)) == noisy
            changed = _boundaries(tok, s) ^ _boundaries(tok, noisy)
            moved[name] += sum(1 for p in changed if abs(p - i) > 3)
    print(moved)
    assert moved["char"] == 0
    assert moved["bpe"] > moved["char"]


def test_save_load(char_tok, tmp_path):
    path = tmp_path / "char.json"
    save_tokenizer(char_tok, path)
    again = load_tokenizer(path)
    assert isinstance(again, CharBPETokenizer)
    text = demo_corpus()
    assert again.encode(text) == char_tok.encode(text)
    assert again.encode("a<|endoftext|>", allowed_special="all")[-1] == char_tok.special_tokens["<|endoftext|>"]


def test_bad_arguments():
    with pytest.raises(InvalidInputError):
        train_char_bpe(["abc"], 200)
    with pytest.raises(InvalidInputError):
        train_char_bpe(["abc"], 400, max_token_chars=0)


def test_cli_train(prose, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(prose[0][:60]), encoding="utf-8")
    out = tmp_path / "char.json"
    res = CliRunner().invoke(main, ["train", str(corpus), "-o", str(out), "--vocab-size", "600",
                                    "--algorithm", "char-bpe", "--no-progress"])
    assert res.exit_code == 0, res.output
    tok = load_tokenizer(out)
    assert isinstance(tok, CharBPETokenizer) and tok.n_vocab == 600
    res = CliRunner().invoke(main, ["encode", "-t", str(out), "Héllo wörld"])
    assert [int(x) for x in res.stdout.split()] == tok.encode("Héllo wörld")


@pytest.mark.parametrize("pretokenizer", ["gpt2", None])
def test_hf_export_gives_same_ids(prose, pretokenizer):
    """HF tokenizers (BPE + byte_fallback, Split pre-tokenizer) gives our ids and decodes back."""
    import tokenizers

    # without a pre-tokenizer every document is one long word: keep that case small
    docs = prose[0][:40] if pretokenizer else [d[:3000] for d in prose[0][:20]]
    tok = train_char_bpe(docs, 800, pretokenizer=pretokenizer, special_tokens=["<|endoftext|>"])
    hf = tokenizers.Tokenizer.from_str(tok.to_hf_json_str())
    text = prose[1][:20_000] + demo_corpus() + "unseen 𝔘𝔫𝔦 🦜"
    ids = tok.encode(text)
    assert hf.encode(text, add_special_tokens=False).ids == ids
    assert hf.decode(ids) == text


def test_cli_hf_export(prose, tmp_path):
    import tokenizers

    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(prose[0][:40]), encoding="utf-8")
    ours, theirs = tmp_path / "char.json", tmp_path / "tokenizer.json"
    runner = CliRunner()
    res = runner.invoke(main, ["train", str(corpus), "-o", str(ours), "--vocab-size", "700", "--algorithm", "char-bpe",
                               "--no-progress"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["convert", str(ours), "-o", str(theirs), "--format", "hf"])
    assert res.exit_code == 0, res.output
    text = prose[1][:5000] + "🦜 ꙮ"
    hf = tokenizers.Tokenizer.from_file(str(theirs))
    assert hf.encode(text, add_special_tokens=False).ids == load_tokenizer(ours).encode(text)


def test_kl3m_size_saturates_only_when_no_pair_is_left(prose):
    """At 4096 (KL3M's smallest) a 330 KB corpus runs out of pairs of <= 3 characters before the
    vocabulary is full. Check that this is real: encoding the training text leaves no adjacent
    pair of learned tokens that could still merge."""
    tok = train_char_bpe(prose[0], 4096, pretokenizer="gpt2")
    assert 1000 < tok.n_vocab < 4096
    table = tok.id_to_bytes
    for doc in prose[0]:
        for piece in tok.pretokenizer.split(doc):
            ids = tok.encode_ordinary(piece)
            for a, b in zip(ids, ids[1:]):
                if a >= 256 and b >= 256:
                    assert len(table[a].decode()) + len(table[b].decode()) > 3, (piece, a, b)
