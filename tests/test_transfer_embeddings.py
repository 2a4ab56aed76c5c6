"""Embedding transfer: hand-computed answers on tiny tokenizers, exact copies on real ones, I/O, CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from tokenlab import InvalidInputError, PreTokenizer, Tokenizer
from tokenlab.cli import main
from tokenlab.transfer.embeddings import (
    SOURCE_KINDS,
    decompose,
    load_embeddings,
    save_embeddings,
    transfer_embeddings,
)


def build(merges, specials):
    vocab = {bytes([i]): i for i in range(256)}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    specials = {s: len(vocab) + k for k, s in enumerate(specials)}
    return Tokenizer(vocab=vocab, merges=merges, pretokenizer=PreTokenizer(None), special_tokens=specials)


@pytest.fixture(scope="module")
def tiny():
    old = build([(b"a", b"b"), (b"c", b"d"), (b" ", b"a")], ["<s>"])  # ab=256 cd=257 " a"=258 <s>=259
    new = build([(b"a", b"b"), (b"c", b"d"), (b"ab", b"cd"), (b"ab", b"x")], ["<s>", "<new>"])
    # new: ab=256 cd=257 abcd=258 abx=259 <s>=260 <new>=261
    E = np.zeros((260, 3))
    E[:256] = [[b / 1000, 0.0, 1.0] for b in range(256)]
    E[256] = [2, 0, 0]
    E[257] = [0, 3, 0]
    E[258] = [1, 1, 0]
    E[259] = [5, 5, 5]
    return old, new, E


def test_copies_and_specials(tiny):
    old, new, E = tiny
    res = transfer_embeddings(old, new, E, top_k=3)
    M = res.matrix
    assert M.shape == (262, 3)
    np.testing.assert_array_equal(M[:258], E[:258])  # bytes, "ab", "cd" copied exactly
    np.testing.assert_array_equal(M[260], E[259])  # "<s>" copied from the old special
    np.testing.assert_allclose(M[261], E[:259].mean(axis=0))  # "<new>": mean of ordinary old rows
    assert res.counts() == {"copied": 258, "composed": 2, "special-copied": 1, "special-mean": 1, "unused": 0}
    assert res.decompositions == {258: [256, 257], 259: [256, ord("x")]}
    assert SOURCE_KINDS[res.kinds[258]] == "composed"


def test_local_means_by_hand(tiny):
    old, new, E = tiny
    M = transfer_embeddings(old, new, E, top_k=0).matrix
    np.testing.assert_allclose(M[258], [1.0, 1.5, 0.0])  # (ab + cd) / 2
    np.testing.assert_allclose(M[259], [(2 + 0.120) / 2, 0.0, 0.5])  # (ab + x) / 2
    M = transfer_embeddings(old, new, E, top_k=0, weighting="length").matrix
    np.testing.assert_allclose(M[259], [(2 * 2 + 0.120) / 3, 0.0, 1 / 3])  # (2*ab + 1*x) / 3


def test_global_top1_by_hand(tiny):
    old, new, E = tiny
    # abcd: local (1, 1.5, 0); cosine to cd = 1.5/|l| beats ab = 1/|l| -> global = cd = (0, 3, 0)
    M = transfer_embeddings(old, new, E, top_k=1, local_weight=0.5).matrix
    np.testing.assert_allclose(M[258], [0.5, 2.25, 0.0])
    M = transfer_embeddings(old, new, E, top_k=1, local_weight=0.25).matrix
    np.testing.assert_allclose(M[258], [0.25, 0.25 * 1.5 + 0.75 * 3, 0.0])


def test_global_top2_softmax_by_hand(tiny):
    old, new, E = tiny
    norm = math.sqrt(1 + 1.5**2)
    s_cd, s_ab = 1.5 / norm, 1.0 / norm
    w_cd = math.exp(s_cd / 0.1) / (math.exp(s_cd / 0.1) + math.exp(s_ab / 0.1))
    glob = np.array([2 * (1 - w_cd), 3 * w_cd, 0.0])
    M = transfer_embeddings(old, new, E, top_k=2, temperature=0.1, local_weight=0.5).matrix
    np.testing.assert_allclose(M[258], 0.5 * np.array([1, 1.5, 0]) + 0.5 * glob, rtol=1e-12)
    # local_weight=1 ignores the global part
    M = transfer_embeddings(old, new, E, top_k=2, local_weight=1.0).matrix
    np.testing.assert_allclose(M[258], [1, 1.5, 0])


def test_ngram_similarity_by_hand(tiny):
    old, new, E = tiny
    # byte 1-3-gram counts: "abcd" has 9 grams (norm 3); "ab" and "cd" share 3 each -> cos 1/sqrt(3),
    # single bytes share 1 -> cos 1/3: the top 2 are ab and cd with equal weights
    M = transfer_embeddings(old, new, E, similarity="ngram", top_k=2, local_weight=0.5).matrix
    np.testing.assert_allclose(M[258], 0.5 * np.array([1, 1.5, 0]) + 0.5 * np.array([1, 1.5, 0]))
    # "abx" (6 grams) shares 3 with "ab" (cos 3/sqrt(18)) and 1 with a single byte (1/sqrt(6)): top 1 is ab
    M = transfer_embeddings(old, new, E, similarity="ngram", top_k=1, local_weight=0.5).matrix
    np.testing.assert_allclose(M[259], 0.5 * np.array([1.06, 0, 0.5]) + 0.5 * np.array([2, 0, 0]))
    # orders (3,): "abx" shares no 3-gram with any copied token -> global falls back to local
    M = transfer_embeddings(old, new, E, similarity="ngram", ngram_orders=(3,), top_k=1).matrix
    np.testing.assert_allclose(M[259], [1.06, 0, 0.5])
    with pytest.raises(InvalidInputError, match="similarity"):
        transfer_embeddings(old, new, E, similarity="fasttext")


def test_real_tokenizers_copy_exactly(cl100k, cl100k_ref, small_trained):
    rng = np.random.default_rng(0)
    E = rng.standard_normal((cl100k.n_vocab, 8)).astype(np.float32)
    res = transfer_embeddings(cl100k, small_trained, E, top_k=5)
    assert res.matrix.dtype == np.float32 and res.matrix.shape == (small_trained.n_vocab, 8)
    ref_vocab = {cl100k_ref.decode_single_token_bytes(i): i for i in range(100256)}
    copied = composed = 0
    for b, i in small_trained.vocab.items():
        if b in ref_vocab:
            np.testing.assert_array_equal(res.matrix[i], E[ref_vocab[b]])
            copied += 1
        else:
            parts = res.decompositions[i]
            assert b"".join(cl100k_ref.decode_single_token_bytes(p) for p in parts) == b
            try:
                assert parts == cl100k_ref.encode_ordinary(b.decode("utf-8"))
            except UnicodeDecodeError:
                pass
            composed += 1
    assert res.counts()["copied"] == copied and res.counts()["composed"] == composed
    assert composed > 0 and copied > 256
    ngram = transfer_embeddings(cl100k, small_trained, E, top_k=5, similarity="ngram").matrix
    copied_rows = res.kinds == SOURCE_KINDS.index("copied")
    np.testing.assert_array_equal(ngram[copied_rows], res.matrix[copied_rows])
    assert np.isfinite(ngram).all() and not np.array_equal(ngram, res.matrix)
    # cl100k's "<|endoftext|>" special is copied, "<|pad|>" has no counterpart
    np.testing.assert_array_equal(res.matrix[small_trained.special_tokens["<|endoftext|>"]],
                                  E[cl100k_ref._special_tokens["<|endoftext|>"]])


def test_decompose_byte_fragment(cl100k, cl100k_ref):
    frag = "é".encode()[:1] + b"x"
    parts = decompose(cl100k, frag)
    assert b"".join(cl100k_ref.decode_single_token_bytes(p) for p in parts) == frag


def test_bad_inputs(tiny):
    old, new, E = tiny
    with pytest.raises(InvalidInputError, match="rows"):
        transfer_embeddings(old, new, E[:100])
    with pytest.raises(InvalidInputError, match="2-D float"):
        transfer_embeddings(old, new, E[0])
    with pytest.raises(InvalidInputError, match="weighting"):
        transfer_embeddings(old, new, E, weighting="max")
    with pytest.raises(InvalidInputError, match="local_weight"):
        transfer_embeddings(old, new, E, local_weight=2)


def test_io_roundtrip(tmp_path, tiny):
    _, _, E = tiny
    save_embeddings(tmp_path / "e.safetensors", E.astype(np.float32), tensor="model.embed_tokens.weight")
    np.testing.assert_array_equal(load_embeddings(tmp_path / "e.safetensors"), E.astype(np.float32))
    from safetensors.numpy import save_file

    # a checkpoint: the embedding is found by its name among other tensors
    save_file({"model.embed_tokens.weight": E, "model.position_embeddings": E[:4], "lm_head.weight": E[:5]},
              str(tmp_path / "ckpt.safetensors"))
    np.testing.assert_array_equal(load_embeddings(tmp_path / "ckpt.safetensors"), E)
    np.testing.assert_array_equal(load_embeddings(tmp_path / "ckpt.safetensors", "lm_head.weight"), E[:5])
    save_embeddings(tmp_path / "e.npy", E)
    np.testing.assert_array_equal(load_embeddings(tmp_path / "e.npy"), E)
    np.savez(tmp_path / "m.npz", a=E, b=E[:3])
    with pytest.raises(InvalidInputError, match="--tensor"):
        load_embeddings(tmp_path / "m.npz")
    np.testing.assert_array_equal(load_embeddings(tmp_path / "m.npz", "b"), E[:3])
    with pytest.raises(InvalidInputError, match="no tensor"):
        load_embeddings(tmp_path / "m.npz", "c")
    with pytest.raises(InvalidInputError, match="output must end"):
        save_embeddings(tmp_path / "e.bin", E)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(Exception) as err:
        load_embeddings(tmp_path / "junk.safetensors")
    assert "not a readable safetensors" in str(err.value)


def test_cli(tmp_path, tiny):
    from safetensors.numpy import load_file

    old, new, E = tiny
    old.save(tmp_path / "old.json")
    new.save(tmp_path / "new.json")
    np.save(tmp_path / "E.npy", E)
    out = tmp_path / "out.safetensors"
    runner = CliRunner()
    args = ["transfer-embeddings", "--old", str(tmp_path / "old.json"), "--new", str(tmp_path / "new.json"),
            "--embeddings", str(tmp_path / "E.npy"), "-o", str(out), "--top-k", "1", "--no-progress"]
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "262 x 3" in r.output and "258 copied" in r.output
    M = load_file(str(out))["embeddings"]
    np.testing.assert_allclose(M[258], [0.5, 2.25, 0.0])
    # bad input: wrong matrix, missing file, bad option -> one error line, no traceback, no output file
    np.save(tmp_path / "small.npy", E[:10])
    bad = tmp_path / "bad.safetensors"
    r = runner.invoke(main, args[:6] + [str(tmp_path / "small.npy"), "-o", str(bad)])
    assert r.exit_code == 1 and r.output.startswith("error:") and r.output.count("\n") == 1
    assert not bad.exists()
    r = runner.invoke(main, args[:6] + [str(tmp_path / "nope.npy"), "-o", str(bad)])
    assert r.exit_code != 0 and "Traceback" not in r.output
    r = runner.invoke(main, args + ["--local-weight", "3"])
    assert r.exit_code == 2


def test_heal_cli(tmp_path, small_trained):
    import json

    path = tmp_path / "tok.json"
    small_trained.save(path)
    runner = CliRunner()
    r = runner.invoke(main, ["heal", "-t", str(path), "The value of sel", "--show", "5000", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["removed"] == " sel" and out["prompt_ids"] == small_trained.encode("The value of")
    want = sorted(i for b, i in small_trained.vocab.items() if b.startswith(b" sel") or b" sel".startswith(b))
    assert [a["id"] for a in out["allowed_first"]] == want and out["n_allowed_first"] == len(want)
    r = runner.invoke(main, ["heal", "-t", str(path)])
    assert r.exit_code == 2
    r = runner.invoke(main, ["heal", "-t", str(tmp_path / "missing.json"), "x"])
    assert r.exit_code == 1 and r.output.startswith("error:")


@pytest.fixture(scope="module")
def small_trained(real_docs):
    from tokenlab import train_bpe

    return train_bpe(real_docs[:40] + real_docs[-30:], vocab_size=1200, pretokenizer="gpt2",
                     special_tokens=["<|endoftext|>", "<|pad|>"], progress=False)
