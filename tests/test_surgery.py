"""Tokenizer surgery: old ids/merges bit-identical, the precise "old text unchanged" guarantee, prune = the
smaller vocabulary BPE learns + matching embedding rows, merged vocabularies; each result re-checked in HF."""

from __future__ import annotations

import pydoc_data.topics

import numpy as np
import pytest
from click.testing import CliRunner

from tokenlab import InvalidInputError, load_tokenizer
from tokenlab.cli import main
from tokenlab.encode.bpe import bpe_merge
from tokenlab.io import to_hf_json_str
from tokenlab.surgery import add_tokens, extend_bpe, merge_vocabularies, prune_bpe, prune_safetensors, slice_rows
from tokenlab.train.bpe import train_bpe

from conftest import multilingual_lines, stdlib_sources

SPECIALS = ["<|endoftext|>"]


@pytest.fixture(scope="module")
def old_domain() -> list[str]:
    topics = pydoc_data.topics.topics
    return [topics[k] for k in sorted(topics)[:80]]


@pytest.fixture(scope="module")
def new_domain() -> list[str]:
    return stdlib_sources(120_000) + [line for line in multilingual_lines() if line.strip()] * 4


@pytest.fixture(scope="module")
def base(old_domain):
    return train_bpe(old_domain, vocab_size=600, special_tokens=SPECIALS, workers=1)


@pytest.fixture(scope="module")
def extended(base, new_domain):
    return extend_bpe(base, new_domain, vocab_size=900)


def held_out(old_domain) -> str:
    topics = pydoc_data.topics.topics
    return "".join(topics[k] for k in sorted(topics)[80:110]) + "".join(multilingual_lines())


def hf_ids_equal(tok, text):
    from tokenizers import Tokenizer as HFTokenizer

    hf = HFTokenizer.from_str(to_hf_json_str(tok))
    ours = tok.encode(text, allowed_special="all")
    assert hf.encode(text).ids == ours
    assert hf.decode(ours, skip_special_tokens=False) == tok.decode(ours)


def assert_guarantee(old, new, text):
    """The module's promise: per pretoken, new ids == old ids with only the new merges applied."""
    new_only = {pair: v for pair, v in new.pair_table.items() if v[0] >= len(old.merges)}
    expected = [i for p in old.pretokenizer.split(text) for i in bpe_merge(old.encode_ordinary(p), new_only)]
    assert new.encode_ordinary(text) == expected


def old_part_identical(old, new):
    assert all(new.vocab[t] == i for t, i in old.vocab.items())
    assert new.merges[: len(old.merges)] == old.merges
    assert all(new.special_tokens[s] == i for s, i in old.special_tokens.items())
    assert set(new.vocab.values()).isdisjoint(new.special_tokens.values())


def test_extend_keeps_old_ids_and_merges(base, extended):
    old_part_identical(base, extended)
    assert len(extended) == 900
    assert min(extended.vocab[t] for t in extended.vocab if t not in base.vocab) == base.n_vocab
    assert len(extended.merges) > len(base.merges)


def test_extend_unchanged_guarantee(base, extended, old_domain):
    """Per pretoken: new ids == the new merges applied to the old ids; unchanged when no new merge applies."""
    n_old = len(base.merges)
    new_only = {pair: v for pair, v in extended.pair_table.items() if v[0] >= n_old}
    text = held_out(old_domain) + "".join(old_domain[:20])
    unchanged = changed = 0
    for piece in dict.fromkeys(base.pretokenizer.split(text)):
        old_ids = base.encode_ordinary(piece)
        new_ids = extended.encode_ordinary(piece)
        assert new_ids == bpe_merge(old_ids, new_only), piece
        if not any((a, b) in new_only for a, b in zip(old_ids, old_ids[1:])):
            assert new_ids == old_ids
            unchanged += 1
        else:
            changed += 1
        if len(old_ids) == 1:
            assert new_ids == old_ids
    assert unchanged > 500 and changed > 10  # both sides of the guarantee are exercised
    # the whole text: the old ids with the new merges applied within each pretoken
    expected = [i for p in base.pretokenizer.split(text) for i in bpe_merge(base.encode_ordinary(p), new_only)]
    assert extended.encode(text) == expected


def test_extend_learns_the_new_domain(base, extended, new_domain):
    text = "".join(new_domain[:5])
    assert len(extended.encode(text)) < 0.95 * len(base.encode(text))
    assert extended.decode(extended.encode(text)) == text


def test_extend_exports_to_hf(extended, old_domain, new_domain):
    hf_ids_equal(extended, held_out(old_domain) + "".join(new_domain[-30:]) + "<|endoftext|>x")


def test_extend_tiktoken_style(cl100k):
    """Rank semantics (any_split, ignore_merges) keep the same guarantee; cl100k's ids stay."""
    from tokenlab.tokenizer import Tokenizer

    plain = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=cl100k.pretokenizer,
                      ignore_merges=True, any_split=True)
    corpus = ["zorblax quixotrin flumdiddle " * 40, "zorblaxian quixotrinity " * 30]
    ext = extend_bpe(plain, corpus, vocab_size=len(plain) + 8)
    old_part_identical(plain, ext)
    assert len(ext.encode(" zorblax quixotrin")) < len(plain.encode(" zorblax quixotrin"))
    sample = "".join(multilingual_lines())
    assert ext.encode(sample) == plain.encode(sample)  # no new merge touches these pretokens
    hf_ids_equal(ext, sample + " zorblax quixotrinity flumdiddle")


def test_add_tokens(base, old_domain):
    out = add_tokens(base, ["tokenlabization", "Zyxwv"])
    out = add_tokens(out, ["<|im_start|>", "<|im_end|>"], special=True)
    old_part_identical(base, out)
    assert out.encode("tokenlabization") == [out.vocab[b"tokenlabization"]]
    assert out.encode(" Zyxwv")[-1] == out.vocab[b"Zyxwv"] or out.encode("Zyxwv") == [out.vocab[b"Zyxwv"]]
    ids = out.encode("<|im_start|>hi<|im_end|>", allowed_special="all")
    assert ids[0] == out.special_tokens["<|im_start|>"] and ids[-1] == out.special_tokens["<|im_end|>"]
    assert min(out.special_tokens["<|im_start|>"], out.vocab[b"tokenlabization"]) >= base.n_vocab
    text = held_out(old_domain)
    assert_guarantee(base, out, text)  # old text changes only where the new merges ("t"+"o", ...) apply
    hf_ids_equal(out, text + " tokenlabization <|im_start|>Zyxwv<|im_end|>")
    with pytest.raises(InvalidInputError, match="pre-tokenizer splits"):
        add_tokens(base, ["hello world"])
    assert add_tokens(base, ["hello world"], special=True).special_tokens["hello world"] == base.n_vocab


def test_prune_equals_smaller_training(base, old_domain):
    pruned, remap = prune_bpe(base, 400)
    smaller = train_bpe(old_domain, vocab_size=400, special_tokens=SPECIALS, workers=1)
    assert pruned.vocab == smaller.vocab and pruned.merges == smaller.merges
    assert pruned.special_tokens == smaller.special_tokens
    assert len(pruned) == 400 and sorted(remap[remap >= 0].tolist()) == list(range(400))
    for t, i in pruned.vocab.items():
        assert remap[base.vocab[t]] == i
    hf_ids_equal(pruned, held_out(old_domain) + "<|endoftext|>")
    with pytest.raises(InvalidInputError):
        prune_bpe(base, 200)


def test_prune_slices_safetensors(base, tmp_path):
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(0)
    embed = rng.normal(size=(base.n_vocab, 8)).astype(np.float32)
    head = rng.normal(size=(base.n_vocab, 8)).astype(np.float32)
    other = rng.normal(size=(3, 3)).astype(np.float32)
    save_file({"model.embed_tokens.weight": embed, "lm_head.weight": head, "norm": other}, str(tmp_path / "m.st"))
    pruned, remap = prune_bpe(base, 400)
    names = prune_safetensors(tmp_path / "m.st", tmp_path / "p.st", remap)
    assert sorted(names) == ["lm_head.weight", "model.embed_tokens.weight"]
    out = load_file(str(tmp_path / "p.st"))
    assert out["norm"].tolist() == other.tolist()
    for t, new_id in list(pruned.vocab.items()) + [(s.encode(), i) for s, i in pruned.special_tokens.items()]:
        old_id = base.vocab.get(t, base.special_tokens.get(t.decode("utf-8", "replace")))
        assert np.array_equal(out["model.embed_tokens.weight"][new_id], embed[old_id])
        assert np.array_equal(out["lm_head.weight"][new_id], head[old_id])
    # the sliced matrix gives the pruned tokenizer's ids the old embedding of the same token
    text = "The quick brown fox"
    np.testing.assert_array_equal(out["lm_head.weight"][pruned.encode(text)],
                                  head[[base.vocab[pruned.token_bytes(i)] for i in pruned.encode(text)]])
    with pytest.raises(InvalidInputError):
        slice_rows(embed[:10], remap)


def test_merge_vocabularies(base, new_domain, old_domain):
    other = train_bpe(new_domain, vocab_size=700, special_tokens=["<|endoftext|>", "<|pad|>"], workers=1)
    merged = merge_vocabularies(base, other)
    old_part_identical(base, merged)
    assert set(other.vocab) <= set(merged.vocab)
    assert set(other.special_tokens) <= set(merged.special_tokens)
    assert merged.special_tokens["<|pad|>"] >= base.n_vocab
    text = "".join(new_domain[:3])
    assert len(merged.encode(text)) < len(base.encode(text))
    assert_guarantee(base, merged, held_out(old_domain) + text)
    hf_ids_equal(merged, held_out(old_domain) + text[:20_000] + "<|pad|>")
    gpt4 = train_bpe(new_domain[:3], vocab_size=300, pretokenizer="cl100k", workers=1)
    with pytest.raises(InvalidInputError, match="pre-tokenize differently"):
        merge_vocabularies(base, gpt4)


def test_cli_surgery_round_trip_through_hf(tmp_path, base, old_domain, new_domain):
    from tokenizers import Tokenizer as HFTokenizer

    runner = CliRunner()
    base_path = tmp_path / "base.json"
    base.save(base_path)
    (tmp_path / "new.txt").write_text("".join(new_domain[:20]), encoding="utf-8")
    text = held_out(old_domain)[:20_000] + "".join(new_domain[:2])[:10_000]

    def check(args, out_name):
        for fmt in ("tokenlab", "hf"):
            out = tmp_path / f"{out_name}.{fmt}.json"
            res = runner.invoke(main, [*map(str, args), "-o", str(out), "--format", fmt])
            assert res.exit_code == 0, res.output
        ours = load_tokenizer(tmp_path / f"{out_name}.tokenlab.json")
        assert HFTokenizer.from_file(str(tmp_path / f"{out_name}.hf.json")).encode(text).ids == ours.encode(text)
        return ours

    ext = check(["extend", base_path, tmp_path / "new.txt", "--vocab-size", 700, "--no-progress"], "ext")
    old_part_identical(base, ext)
    added = check(["add-tokens", base_path, "tokenlabization"], "add")
    assert added.encode("tokenlabization") == [added.vocab[b"tokenlabization"]]
    pruned = check(["prune", base_path, "--vocab-size", 450], "pruned")
    assert len(pruned) == 450
    merged = check(["merge-vocab", base_path, tmp_path / "ext.tokenlab.json"], "merged")
    assert merged.vocab == ext.vocab

    np.save(tmp_path / "emb.npy", np.arange(base.n_vocab * 2, dtype=np.float32).reshape(-1, 2))
    res = runner.invoke(main, ["prune", str(base_path), "--vocab-size", "450", "-o", str(tmp_path / "p.json"),
                               "--embeddings", str(tmp_path / "emb.npy"), "--embeddings-output",
                               str(tmp_path / "emb450.npy"), "--remap", str(tmp_path / "remap.npy")])
    assert res.exit_code == 0, res.output
    sliced, remap = np.load(tmp_path / "emb450.npy"), np.load(tmp_path / "remap.npy")
    assert sliced.shape == (450, 2) and np.array_equal(sliced[remap[remap >= 0]], np.load(tmp_path / "emb.npy")[
        np.flatnonzero(remap >= 0)])


@pytest.mark.parametrize("args, message", [
    (["prune", "{base}", "--vocab-size", "5000"], "prune to fewer"),
    (["add-tokens", "{base}", "hello world"], "pre-tokenizer splits"),
    (["extend", "mistral-sp", "{corpus}", "--vocab-size", "40000"], "byte-level BPE"),
    (["merge-vocab", "{base}", "{missing}"], "no such"),
])
def test_cli_surgery_errors(tmp_path, base, args, message):
    base.save(tmp_path / "base.json")
    (tmp_path / "c.txt").write_text("some text\n")
    fill = {"base": tmp_path / "base.json", "corpus": tmp_path / "c.txt", "missing": tmp_path / "nope.json"}
    argv = [a.format(**fill) for a in args] + ["-o", str(tmp_path / "out.json")]
    res = CliRunner().invoke(main, argv)
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr
    assert not (tmp_path / "out.json").exists()
