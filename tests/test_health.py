"""Token health: hand-built vocabularies with known defects, cl100k checked against tiktoken itself,
and the weight indicator on a synthetic matrix with planted under-trained rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tokenlab.cli import main
from tokenlab.errors import FormatError, InvalidInputError
from tokenlab.evaluate.health import (
    duplicate_looking_tokens,
    load_embeddings,
    partial_utf8_tokens,
    token_health,
    undertrained_scores,
    undertrained_tokens,
    unreachable_tokens,
    unused_tokens,
)
from tokenlab.tokenizer import Tokenizer


def tiny(merges=(), pretokenizer=None):
    vocab = {bytes([i]): i for i in range(256)}
    out = []
    for a, b in merges:
        a, b = (x.encode() if isinstance(x, str) else x for x in (a, b))
        vocab[a + b] = len(vocab)
        out.append((a, b))
    return Tokenizer(vocab, out, pretokenizer=pretokenizer)


def test_unreachable_by_merge_order():
    # "abc": a b c -> (a,b) has rank 0 -> ab c; no merge (ab, c) -> "abc" (id 258) is never produced
    tok = tiny([("a", "b"), ("b", "c"), ("a", "bc")])
    assert tok.encode("abc") == [256, 99]
    assert unreachable_tokens(tok) == [258]


def test_unreachable_by_pretokenizer():
    # GPT-2 pre-tokenization cuts "a " into "a" and " ", so the token "a " (256) cannot form
    tok = tiny([("a", " "), (" ", "b")], pretokenizer="gpt2")
    assert unreachable_tokens(tok) == [256]


def test_unreachable_matches_tiktoken_on_cl100k(cl100k, cl100k_ref):
    expected, partial = [], []
    for i in range(cl100k_ref.n_vocab):
        try:
            b = cl100k_ref.decode_single_token_bytes(i)
        except KeyError:
            continue
        if i in cl100k_ref._special_tokens.values():
            continue
        try:
            text = b.decode("utf-8")
        except UnicodeDecodeError:
            partial.append(i)
            continue
        if cl100k_ref.encode_ordinary(text) != [i]:
            expected.append(i)
    assert unreachable_tokens(cl100k) == expected
    assert partial_utf8_tokens(cl100k) == partial and len(partial) > 500


def test_unreachable_matches_tiktoken_with_gpt2_splitting(cl100k_path, cl100k_ref):
    """cl100k's ranks under GPT-2's pre-tokenizer: many tokens become unreachable; tiktoken agrees on which."""
    import tiktoken

    from tokenlab.io import read_tiktoken
    from tokenlab.pretokenize import PATTERNS

    ours = read_tiktoken(cl100k_path, pattern="gpt2")
    ref = tiktoken.Encoding("cl100k_gpt2_split", pat_str=PATTERNS["gpt2"],
                            mergeable_ranks=cl100k_ref._mergeable_ranks, special_tokens={})
    sample = range(0, 100_256, 7)
    expected = []
    for i in sample:
        b = ref.decode_single_token_bytes(i)
        try:
            text = b.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if ref.encode_ordinary(text) != [i]:
            expected.append(i)
    assert len(expected) > 30
    assert unreachable_tokens(ours, ids=sample) == expected


def test_partial_and_duplicates_hand_case():
    # full-width "Ａ" (EF BC A1) and "a<zero-width space>" (61 E2 80 8B) look like "A" and "a"
    tok = tiny([(b"\xef", b"\xbc"), (b"\xef\xbc", b"\xa1"), (b"\xe2", b"\x80"), (b"\xe2\x80", b"\x8b"),
                (b"a", b"\xe2\x80\x8b")])
    # ids: 256 EF BC, 257 Ａ, 258 E2 80, 259 ZWSP, 260 a+ZWSP
    assert duplicate_looking_tokens(tok) == [[65, 257], [97, 260]]
    assert partial_utf8_tokens(tok) == list(range(128, 256)) + [256, 258]


def test_unused_tokens():
    assert unused_tokens(tiny([("a", "b")]), ["abab"]) == list(range(256))
    assert unused_tokens(tiny([("a", "b")]), ["ab", "x"]) == [i for i in range(256) if i != ord("x")]


def _planted(seed=0):
    """500 x 32 matrix: normal rows random, rows 400..449 near one vector, all rows share an offset."""
    rng = np.random.default_rng(seed)
    mat = rng.normal(size=(500, 32))
    centre = rng.normal(size=32)
    mat[400:450] = centre + 0.05 * rng.normal(size=(50, 32))
    mat += 4.0 * rng.normal(size=32)  # a direction common to all rows (removed as the first component)
    return mat


def test_undertrained_finds_planted_rows():
    mat = _planted()
    flagged = undertrained_tokens(mat, known_unused=range(400, 420))
    assert flagged == list(range(420, 450))
    scores = undertrained_scores(mat, range(400, 420))
    assert scores[420:450].min() > 0.9 > np.abs(scores[:400]).max()
    with pytest.raises(InvalidInputError):
        undertrained_scores(mat, [])
    with pytest.raises(InvalidInputError):
        undertrained_scores(mat, [600])


def test_load_embeddings(tmp_path):
    from safetensors.numpy import save_file

    mat = _planted().astype(np.float32)
    np.save(tmp_path / "e.npy", mat)
    assert np.array_equal(load_embeddings(tmp_path / "e.npy"), mat)
    save_file({"model.embed_tokens.weight": np.zeros((500, 32), np.float32), "lm_head.weight": mat,
               "model.norm.weight": np.ones(32, np.float32)}, str(tmp_path / "m.safetensors"))
    assert np.array_equal(load_embeddings(tmp_path / "m.safetensors"), mat)  # the unembedding is preferred
    assert not load_embeddings(tmp_path / "m.safetensors", key="model.embed_tokens.weight").any()
    np.save(tmp_path / "v.npy", np.zeros(5))
    with pytest.raises(FormatError):
        load_embeddings(tmp_path / "v.npy")
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(FormatError):
        load_embeddings(tmp_path / "bad.safetensors")
    with pytest.raises(InvalidInputError):
        load_embeddings(tmp_path / "e.txt")


def test_token_health_report_and_cli(tmp_path):
    tok = tiny([("a", "b"), ("b", "c"), ("a", "bc"), (b"\xef", b"\xbc"), (b"\xef\xbc", b"\xa1")])
    path = tmp_path / "tok.json"
    tok.save(path)
    # embeddings: 261 rows sharing an offset; the unreachable "abc" (258) and planted 100..109 sit together
    rng = np.random.default_rng(1)
    mat = rng.normal(size=(261, 64))
    mat[[258] + list(range(100, 110))] = rng.normal(size=64) + 0.05 * rng.normal(size=(11, 64))
    mat += 3.0 * rng.normal(size=64)
    np.save(tmp_path / "emb.npy", mat)
    rep = token_health(tok, ["ab c"], mat, known_unused=[258, 100, 101])
    # ids: 256 ab, 257 bc, 258 abc, 259 EF BC (partial), 260 Ａ
    assert rep.unreachable == [258] and rep.partial_utf8 == list(range(128, 256)) + [259]
    assert rep.duplicate_groups == [[65, 260]]
    assert rep.undertrained == list(range(102, 110))
    assert set(rep.unused) == set(range(261)) - {256, 32, 99}

    runner = CliRunner()
    res = runner.invoke(main, ["health", str(path), "--embeddings", str(tmp_path / "emb.npy"), "--known-unused",
                               "258,100,101", "--json", "-", "--no-progress"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output.strip().splitlines()[-1])
    assert data["unreachable"] == [258] and data["undertrained"] == list(range(102, 110))
    assert data["summary"]["partial_utf8"] == 129

    # bad input: one error line, exit 1 (or 2 for usage errors), no traceback
    for args, code in [(["health", str(tmp_path / "missing.json")], 1),
                       (["health", str(path), "--embeddings", str(tmp_path / "tok.json")], 1),
                       (["health", str(path), "--embeddings", str(tmp_path / "emb.npy"), "--known-unused", "x"], 2)]:
        res = runner.invoke(main, args)
        assert res.exit_code == code, (args, res.output)
        assert "Traceback" not in res.output and "rror" in res.output
