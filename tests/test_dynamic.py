"""Dynamic tokenization: batch-level merges, exact mapping back, mean-of-parts embeddings, length reduction."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenlab.cli import main
from tokenlab.errors import InvalidInputError
from tokenlab.transfer.dynamic import dynamic_merge, length_reduction


@functools.lru_cache(maxsize=1)
def cl100k():
    from tokenlab.evaluate.report import reference_tokenizer

    return reference_tokenizer("cl100k")


def test_known_merges():
    dyn = dynamic_merge([[1, 2, 3, 1, 2], [1, 2, 4]], base_vocab_size=10, within_words=False)
    assert dyn.merges == [(1, 2, 10)]
    assert dyn.ids == [[10, 3, 10], [10, 4]]
    assert dyn.parts == {10: (1, 2)} and dyn.lengths() == (8, 5)


def test_merges_chain_and_ties_go_to_the_smaller_pair():
    dyn = dynamic_merge([[1, 2, 3], [1, 2, 3]], base_vocab_size=10, within_words=False)
    assert dyn.merges == [(1, 2, 10), (10, 3, 11)]
    assert dyn.ids == [[11], [11]] and dyn.parts[11] == (1, 2, 3)
    assert dynamic_merge([[1, 2, 3], [1, 2, 3]], base_vocab_size=10, within_words=False, max_merges=1).ids == \
        [[10, 3], [10, 3]]
    # overlapping pairs: (5,5) is counted 3 times, merges twice; (10,10) then occurs once
    assert dynamic_merge([[5, 5, 5, 5]], base_vocab_size=10, within_words=False).ids == [[10, 10]]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5), max_size=30), max_size=6), st.integers(2, 4))
def test_expand_gives_back_the_batch(batch, min_count):
    dyn = dynamic_merge(batch, base_vocab_size=6, within_words=False, min_count=min_count)
    assert dyn.base_ids() == batch
    before, after = dyn.lengths()
    assert before == sum(map(len, batch)) and after <= before
    # no adjacent pair occurs min_count times any more
    from collections import Counter

    pairs = Counter(p for s in dyn.ids for p in zip(s, s[1:]))
    assert all(c < min_count for c in pairs.values())


def test_within_words_and_exact_decode():
    tok = cl100k()
    texts = ["Die Benutzerverwaltung speichert Benutzerprofile.", "Benutzerprofile und Benutzerverwaltung",
             "Zugriffsberechtigungen für Benutzerprofile"] * 3
    batch = [tok.encode_ordinary(t) for t in texts]
    dyn = dynamic_merge(batch, tok=tok)
    assert dyn.n_new > 0 and dyn.lengths()[1] < dyn.lengths()[0]
    for seq, text in zip(dyn.ids, texts):
        assert dyn.decode(tok, seq) == text
    for parts in dyn.parts.values():
        data = b"".join(tok.token_bytes(p) for p in parts)
        assert not any(c in b" \t\n" for c in data.lstrip(b" ")), data  # never spans two words
    wide = dynamic_merge(batch, tok=tok, within_words=False)
    assert wide.lengths()[1] <= dyn.lengths()[1]


def test_mean_of_parts_embeddings():
    dyn = dynamic_merge([[1, 2, 3], [1, 2, 3]], base_vocab_size=10, within_words=False)
    base = np.arange(40, dtype=np.float32).reshape(10, 4)
    new = dyn.new_embeddings(base)
    assert new.shape == (2, 4)
    np.testing.assert_allclose(new[0], (base[1] + base[2]) / 2)
    np.testing.assert_allclose(new[1], (base[1] + base[2] + base[3]) / 3)
    full = dyn.embedding_matrix(base)
    assert full.shape == (12, 4) and full[np.asarray(dyn.ids[0])].shape == (1, 4)
    with pytest.raises(InvalidInputError):
        dyn.new_embeddings(base[:5])


def test_errors():
    with pytest.raises(InvalidInputError):
        dynamic_merge([[1, 20]], base_vocab_size=10, within_words=False)
    with pytest.raises(InvalidInputError):
        dynamic_merge([[1]], base_vocab_size=10)  # within_words needs the tokenizer
    with pytest.raises(InvalidInputError):
        dynamic_merge([[1]], base_vocab_size=10, within_words=False, min_count=1)
    dyn = dynamic_merge([[1, 2], [1, 2]], base_vocab_size=10, within_words=False)
    with pytest.raises(InvalidInputError):
        dyn.expand([11])


def test_length_reduction_on_russian_strings():
    from tokenlab.evaluate.data import django_parallel

    ru = django_parallel(["en", "ru"])["ru"][:128]
    r = length_reduction(cl100k(), ru, batch_size=32)
    assert r["tokens"] == sum(len(cl100k().encode_ordinary(t)) for t in ru)
    assert 0.1 < r["reduction"] < 0.6 and r["new_tokens_per_batch"] > 1


def test_dynamic_cli(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("Benutzerverwaltung\nBenutzerverwaltung ist gut\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["dynamic", "cl100k", "--languages", "", "--no-code", "--text", str(f), "--json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    assert row["dynamic_tokens"] < row["tokens"]
    r = CliRunner().invoke(main, ["dynamic", "cl100k", "--languages", "", "--no-code"])
    assert r.exit_code == 1 and "error: nothing to measure" in r.output
