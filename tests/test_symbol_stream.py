"""Symbol-stream BPE: known merges, exact round trip, training/encoding agreement, CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenlab.cli import main
from tokenlab.errors import FormatError, InvalidInputError
from tokenlab.train.symbol_stream import SymbolBPE, train_symbol_bpe


def test_known_merges():
    model = train_symbol_bpe([[1, 2, 3, 1, 2, 3], [0, 1, 2]], vocab_size=6, base_size=4)
    assert model.merges == [(1, 2), (4, 3)]  # (1,2) x3, then (4,3) x2
    assert model.encode([1, 2, 3]) == [5] and model.encode([0, 1, 2, 3, 3]) == [0, 5, 3]
    assert model.decode([5, 4, 0]) == [1, 2, 3, 1, 2, 0]
    assert model.vocab_size == 6


def test_min_frequency_and_max_len_stop_training():
    assert train_symbol_bpe([[1, 2], [3, 4]], vocab_size=10).merges == []  # every pair occurs once
    model = train_symbol_bpe([[1, 1, 1, 1]] * 3, vocab_size=10, max_len=2)
    assert all(len(model.expand(model.base_size + k)) <= 2 for k in range(len(model.merges)))


SEQS = st.lists(st.lists(st.integers(0, 7), min_size=1, max_size=40), min_size=1, max_size=12)


@settings(max_examples=100, deadline=None)
@given(SEQS, st.integers(8, 40))
def test_round_trip_and_encoding_matches_training(seqs, vocab):
    model = train_symbol_bpe(seqs, vocab_size=vocab, base_size=8)
    for s in seqs:
        enc = model.encode(s)
        assert model.decode(enc) == s
        assert len(enc) <= len(s)
    # the trainer's own merged sequences are what encode gives
    from collections import Counter

    from tokenlab.train.symbol_bpe import SymbolBPETrainer

    counts = Counter(tuple(s) for s in seqs)
    tr = SymbolBPETrainer(list(counts), list(counts.values()), [1] * 8)
    for a, b in model.merges:
        tr.merge((a, b))
    for w, s in zip(tr.words, counts):
        assert model.encode(s) == w


def test_save_load_and_errors(tmp_path):
    model = train_symbol_bpe([[1, 2, 1, 2]], vocab_size=5)
    model.save(tmp_path / "m.json")
    again = SymbolBPE.load(tmp_path / "m.json")
    assert again.merges == model.merges and again.base_size == model.base_size
    with pytest.raises(InvalidInputError):
        model.encode([9])
    with pytest.raises(InvalidInputError):
        train_symbol_bpe([[]], vocab_size=5)
    with pytest.raises(InvalidInputError):
        train_symbol_bpe([[5]], vocab_size=10, base_size=3)
    with pytest.raises(FormatError):
        SymbolBPE(3, [(5, 1)])
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(FormatError):
        SymbolBPE.load(tmp_path / "bad.json")


def test_cli_round_trip(tmp_path):
    data = tmp_path / "seqs.txt"
    data.write_text("60 64 67 60 64 67 72\n60 64 67 72\n55 59 62\n", encoding="utf-8")
    model = tmp_path / "m.json"
    run = CliRunner().invoke
    r = run(main, ["symbol-bpe", "train", str(data), "-o", str(model), "--vocab-size", "80"])
    assert r.exit_code == 0, r.output
    assert json.loads(model.read_text())["merges"][:1] == [[60, 64]]
    r = run(main, ["symbol-bpe", "encode", str(data), "-m", str(model)])
    assert r.exit_code == 0, r.output
    enc = tmp_path / "enc.txt"
    enc.write_text(r.stdout, encoding="utf-8")
    assert len(r.stdout.split()) < len(data.read_text().split())
    r = run(main, ["symbol-bpe", "decode", str(enc), "-m", str(model)])
    assert r.exit_code == 0 and r.stdout == data.read_text()
    bad = tmp_path / "bad.txt"
    bad.write_text("1 x 2\n")
    r = run(main, ["symbol-bpe", "train", str(bad), "-o", str(model), "--vocab-size", "80"])
    assert r.exit_code == 1 and "error:" in r.output and "expected integers" in r.output


# ---------------------------------------------------------------------------- against miditok's own BPE
def test_miditok_learns_the_hand_worked_merges():
    pytest.importorskip("miditok")
    from tokenlab.train.symbol_stream import miditok_encode, train_miditok_bpe

    seqs = [[0, 1, 2, 0, 1, 2, 3], [0, 1, 0, 1, 3, 3, 3], [2, 2, 2, 2]]
    # counts: (0,1) 4, then (2,2) 3, then (3,3) and (4,2) tie at 2 and the lower pair goes first
    expected = [(0, 1), (2, 2), (3, 3), (4, 2), (4, 4), (5, 5)]
    theirs = train_miditok_bpe(seqs, 10)
    assert theirs.merges == expected
    assert train_symbol_bpe(seqs, 10, min_frequency=1).merges == expected
    assert [miditok_encode(theirs, s) for s in seqs] == [[7, 7, 3], [8, 6, 3], [9]]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=25), min_size=1, max_size=12),
       st.lists(st.integers(0, 5), min_size=1, max_size=25), st.integers(1, 30))
def test_same_merges_and_encodings_as_miditok(seqs, held, extra):
    """Same sequences, same vocabulary: miditok's BPE (HF BpeTrainer) and ours learn the same merges in the same
    order (both take the most frequent pair, ties to the lower pair, overlapping pairs counted per position)."""
    pytest.importorskip("miditok")
    from tokenlab.train.symbol_stream import miditok_encode, train_miditok_bpe

    theirs = train_miditok_bpe(seqs, 6 + extra, base_size=6)
    ours = train_symbol_bpe(seqs, 6 + extra, base_size=6, min_frequency=1)
    assert ours.merges == theirs.merges
    assert ours.encode(held) == miditok_encode(theirs, held)
    assert theirs.decode(miditok_encode(theirs, held)) == held


def test_compare_miditok_cli(tmp_path):
    pytest.importorskip("miditok")
    path = tmp_path / "seqs.txt"
    path.write_text("0 1 2 0 1 2 3\n0 1 0 1 3 3 3\n2 2 2 2\n0 1 2 3 3\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["symbol-bpe", "compare-miditok", str(path), "--vocab-size", "6,10", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [(r["merges"], r["same_merges"], r["miditok_merges"]) for r in rows] == [(2, 2, 2), (6, 6, 6)]
    assert rows[1]["held_out_symbols"] == 5 and rows[1]["held_out_tokens"] == rows[1]["miditok_held_out_tokens"] == 2
    path.write_text("0 1 400\n1 2\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["symbol-bpe", "compare-miditok", str(path), "--vocab-size", "500"])
    assert res.exit_code == 1 and "error: miditok's REMI alphabet has room for" in res.output


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 4), min_size=1, max_size=30), st.integers(1, 4)), min_size=1,
                max_size=10),
       st.integers(0, 40), st.integers(1, 3), st.one_of(st.none(), st.integers(2, 6)))
def test_linked_trainer_equals_the_reference_trainer(data, n_merges, min_frequency, max_len):
    """The linked-list trainer behind train_symbol_bpe learns exactly the shared incremental trainer's merges."""
    from tokenlab.train.symbol_stream import _train_linked, _train_reference

    seqs, counts = [s for s, _ in data], [c for _, c in data]
    assert _train_linked(seqs, counts, 5, n_merges, min_frequency, max_len) == \
        _train_reference(seqs, counts, 5, n_merges, min_frequency, max_len)
