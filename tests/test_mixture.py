"""Data-mixture inference (Hayase et al.): hand-solved LPs, exact replay counts, and tokenizers we train
ourselves on known mixtures of real text (Python code, English prose, C headers, font-metrics data)."""

from __future__ import annotations

import glob
import json
import os
import random
import sysconfig
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

from tokenlab import InvalidInputError, Tokenizer, save_tokenizer, train_bpe
from tokenlab.cli import main
from tokenlab.evaluate.mixture import (
    MergeConstraints,
    _PairCounts,
    infer_mixture,
    merge_constraints,
    solve_mixture_lp,
)


def hand_tokenizer(merges) -> Tokenizer:
    vocab = {bytes([b]): b for b in range(256)}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return Tokenizer(vocab=vocab, merges=list(merges), pretokenizer="whitespace")


# X has ab twice and ef twice, Y has cd four times, both 11 bytes. Merge ab before cd needs
# 2a >= 4(1-a), merge cd before ef needs 4(1-a) >= 2a: together a = 2/3 exactly.
FORCED = hand_tokenizer([(b"a", b"b"), (b"c", b"d"), (b"e", b"f")])
X_TEXT, Y_TEXT = "ab ab ef ef", "cd cd cd cd"


# ---------------------------------------------------------------- hand-computed cases
def test_forced_answer_two_categories():
    est = infer_mixture(FORCED, {"X": X_TEXT, "Y": Y_TEXT})
    assert est.proportions["X"] == pytest.approx(2 / 3, abs=1e-6)
    assert est.proportions["Y"] == pytest.approx(1 / 3, abs=1e-6)
    assert est.total_slack == pytest.approx(0, abs=1e-9)
    assert est.merges_used == 3 and est.unseen_merges == 0
    assert est.sample_bytes == {"X": 11, "Y": 11}


def test_counts_are_normalised_per_byte():
    # three copies of Y's sample triple its counts and its bytes: the answer must not move
    est = infer_mixture(FORCED, {"X": [X_TEXT], "Y": [Y_TEXT] * 3})
    assert est.sample_bytes["Y"] == 33
    assert est.proportions["X"] == pytest.approx(2 / 3, abs=1e-6)


def test_swapped_merge_order_flips_the_bound():
    # cd first, then ab, then ef: 4(1-a) >= 2a and 2a >= 2a (tie) -> any a <= 2/3 has zero slack
    tok = hand_tokenizer([(b"c", b"d"), (b"a", b"b"), (b"e", b"f")])
    est = infer_mixture(tok, {"X": X_TEXT, "Y": Y_TEXT})
    assert est.total_slack == pytest.approx(0, abs=1e-9)
    assert est.proportions["X"] <= 2 / 3 + 1e-6


def test_unseen_merge_is_reported():
    tok = hand_tokenizer([(b"a", b"b"), (b"q", b"z"), (b"c", b"d")])
    est = infer_mixture(tok, {"X": X_TEXT, "Y": Y_TEXT})
    assert est.unseen_merges == 1
    assert est.total_slack > 0


def test_lp_minimal_slack_by_hand():
    # rows: 3a - 1 <= v0 (2a - (1-a)) and 1 - 2a <= v1; min v0 + v1 = a on [1/3, 1/2] -> a = 1/3, cost 1/3
    cons = MergeConstraints(diff=np.array([[2.0, -1.0], [-1.0, 1.0]]), step=np.array([0, 1]),
                            pair=np.array([0, 1]), n_steps=2, unseen_merges=0)
    for pair_slack in (True, False):
        alpha, cost, _ = solve_mixture_lp(cons, pair_slack=pair_slack)
        assert alpha == pytest.approx([1 / 3, 2 / 3], abs=1e-7)
        assert cost == pytest.approx(1 / 3, abs=1e-7)


def test_pair_slack_pays_once_per_pair():
    # pair P beats the merge by a at steps 0..2, pair Q beats it by 2(1-a) at step 3.
    # per-pair slack: cost a + 2(1-a) -> a = 1 (cost 1); per-step only: 3a + 2(1-a) -> a = 0 (cost 2)
    cons = MergeConstraints(diff=np.array([[1.0, 0.0]] * 3 + [[0.0, 2.0]]), step=np.array([0, 1, 2, 3]),
                            pair=np.array([0, 0, 0, 1]), n_steps=4, unseen_merges=0)
    alpha, cost, _ = solve_mixture_lp(cons, pair_slack=True)
    assert alpha == pytest.approx([1, 0], abs=1e-7) and cost == pytest.approx(1, abs=1e-7)
    alpha, cost, _ = solve_mixture_lp(cons, pair_slack=False)
    assert alpha == pytest.approx([0, 1], abs=1e-7) and cost == pytest.approx(2, abs=1e-7)


# ---------------------------------------------------------------- replay bookkeeping
def _recount(words: Counter) -> Counter:
    out: Counter = Counter()
    for w, c in words.items():
        for p in zip(w, w[1:]):
            out[p] += c
    return out


def _apply(words: Counter, pair, new) -> Counter:
    out: Counter = Counter()
    for w, c in words.items():
        merged, i = [], 0
        while i < len(w):
            if i + 1 < len(w) and (w[i], w[i + 1]) == pair:
                merged.append(new)
                i += 2
            else:
                merged.append(w[i])
                i += 1
        out[tuple(merged)] += c
    return out


def test_incremental_counts_equal_recount(trained, real_docs):
    from tokenlab.evaluate.mixture import _word_counts

    words, _ = _word_counts(trained, real_docs[::40])
    counts = _PairCounts(words)
    naive = Counter(words)
    v = trained.vocab
    for k, (a, b) in enumerate(trained.merges[:120]):
        pair, new = (v[a], v[b]), v[a + b]
        if k % 30 == 0:
            expected = +_recount(naive)
            assert dict(counts.count) == dict(expected)
            top = counts.top(25)
            assert len(set(top)) == 25
            assert sorted((expected[p] for p in top), reverse=True) == sorted(expected.values(), reverse=True)[:25]
        counts.merge(pair, new)
        naive = _apply(naive, pair, new)


def test_in_sample_mixture_is_exact(tmp_path):
    # training text == sample text: the true shares satisfy every inequality with zero slack
    prose = _english()[:60]
    code = _python_files(150_000)
    tok = train_bpe(prose + code + code, vocab_size=556, pretokenizer="gpt2")
    est = infer_mixture(tok, {"prose": prose, "code": code}, n_merges=300)
    prose_bytes = sum(len(d.encode()) for d in prose)
    code_bytes = 2 * sum(len(d.encode()) for d in code)
    assert est.total_slack == pytest.approx(0, abs=1e-6)
    assert est.proportions["prose"] == pytest.approx(prose_bytes / (prose_bytes + code_bytes), abs=2e-3)
    # the same tokenizer as an HF tokenizer.json (other ids, same merges) gives the same answer
    save_tokenizer(tok, tmp_path / "tokenizer.json", "hf")
    again = infer_mixture(str(tmp_path / "tokenizer.json"), {"prose": prose, "code": code}, n_merges=300)
    assert again.proportions == pytest.approx(est.proportions, abs=1e-9)


def test_lazy_constraints_reach_the_full_lp_optimum(trained, real_docs):
    cons, _ = merge_constraints(trained, {"a": real_docs[0::3], "b": real_docs[1::3], "c": real_docs[2::3]},
                                n_merges=150, top_pairs=10)
    _, lazy_cost, rows = solve_mixture_lp(cons)
    _, full_cost, all_rows = solve_mixture_lp(cons, initial_per_step=10 ** 6)
    assert all_rows == len(cons.diff) and rows < all_rows
    assert lazy_cost == pytest.approx(full_cost, rel=1e-6, abs=1e-6)


# ---------------------------------------------------------------- known mixtures of real text
def _python_files(limit: int) -> list[str]:
    out, size = [], 0
    for path in sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            out.append(f.read())
        size += len(out[-1].encode())
        if size >= limit:
            break
    return out


def _english() -> list[str]:
    import pydoc_data.topics

    return [pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)]


def _c_headers(limit: int) -> list[str]:
    out, size = [], 0
    root = sysconfig.get_paths()["include"]
    headers = sorted(glob.glob(os.path.join(root, "**", "*.h"), recursive=True))
    if sum(os.path.getsize(p) for p in headers) <= 400_000:
        pytest.skip(f"CPython's C headers are not installed under {root} (Debian: python3-dev); "
                    "the C category of the mixture tests reads them")
    for path in headers:
        with open(path, encoding="utf-8", errors="replace") as f:
            out.append(f.read())
        size += len(out[-1].encode())
        if size >= limit:
            break
    assert size > 400_000, f"expected the CPython C headers under {root}"
    return out


def _font_metrics(limit: int) -> list[str]:
    """Adobe font metrics files shipped by matplotlib: a line-oriented data format."""
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    assert spec is not None, "matplotlib (test extra) ships the .afm files"
    root = spec.submodule_search_locations[0]
    out, size = [], 0
    for path in sorted(glob.glob(os.path.join(root, "mpl-data", "**", "*.afm"), recursive=True)):
        with open(path, encoding="utf-8", errors="replace") as f:
            out.append(f.read())
        size += len(out[-1].encode())
        if size >= limit:
            break
    assert size > 300_000
    return out


def _halves(docs: list[str], seed: int = 0, block_lines: int = 5) -> tuple[list[str], list[str]]:
    """Two disjoint random halves of a category (blocks of a few lines), like two samples of one source."""
    lines = "".join(docs).splitlines(keepends=True)
    blocks = ["".join(lines[i : i + block_lines]) for i in range(0, len(lines), block_lines)]
    random.Random(seed).shuffle(blocks)
    return blocks[0::2], blocks[1::2]


def _prefix(blocks: list[str], n_bytes: int) -> list[str]:
    out, size = [], 0
    for b in blocks:
        if size + len(b.encode()) > n_bytes:
            break
        out.append(b)
        size += len(b.encode())
    return out


@pytest.fixture(scope="module")
def categories():
    """name -> (training half, held-out sample half)."""
    return {
        "python": _halves(_python_files(1_200_000)),
        "english": _halves(_english()),
        "c": _halves(_c_headers(1_200_000)),
        "font_metrics": _halves(_font_metrics(600_000)),
    }


@pytest.mark.parametrize("mixture", [
    {"python": 0.6, "english": 0.3, "c": 0.1},
    {"python": 0.2, "english": 0.5, "c": 0.3},
    {"python": 0.1, "english": 0.2, "c": 0.7},
    {"python": 0.4, "english": 0.25, "c": 0.2, "font_metrics": 0.15},
])
def test_recovers_known_mixtures(categories, mixture):
    corpus, truth = [], {}
    for name, share in mixture.items():
        docs = _prefix(categories[name][0], int(400_000 * share))
        corpus += docs
        truth[name] = sum(len(d.encode()) for d in docs)
    total = sum(truth.values())
    tok = train_bpe(corpus, vocab_size=256 + 300, pretokenizer="gpt2")
    samples = {name: categories[name][1] for name in mixture}
    est = infer_mixture(tok, samples, n_merges=300, top_pairs=30)
    for name in truth:
        assert abs(est.proportions[name] - truth[name] / total) <= 0.05, (name, est.proportions, truth)
    assert sum(est.proportions.values()) == pytest.approx(1)


# ---------------------------------------------------------------- bad input
def test_bad_input_errors(trained):
    with pytest.raises(InvalidInputError, match="at least one category"):
        infer_mixture(FORCED, {})
    with pytest.raises(InvalidInputError, match="empty"):
        infer_mixture(FORCED, {"X": X_TEXT, "Y": ""})
    with pytest.raises(InvalidInputError, match="n_merges"):
        infer_mixture(FORCED, {"X": X_TEXT}, n_merges=0)
    with pytest.raises(InvalidInputError, match="no merges"):
        infer_mixture(hand_tokenizer([]), {"X": X_TEXT})
    with pytest.raises(InvalidInputError, match="BPE"):
        infer_mixture(object(), {"X": X_TEXT})
    with pytest.raises(InvalidInputError, match="must be str"):
        infer_mixture(FORCED, {"X": [b"ab"]})
    with pytest.raises(InvalidInputError, match="Unicode"):
        infer_mixture(FORCED, {"X": "ab \ud800"})


# ---------------------------------------------------------------- CLI
@pytest.fixture()
def forced_files(tmp_path):
    tok = tmp_path / "tok.json"
    FORCED.save(tok)
    x, y1, y2 = tmp_path / "x.txt", tmp_path / "y1.txt", tmp_path / "y2.txt"
    x.write_text(X_TEXT, encoding="utf-8")
    y1.write_text(Y_TEXT, encoding="utf-8")
    y2.write_text(Y_TEXT, encoding="utf-8")
    return tok, x, y1, y2


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_table_and_json(forced_files):
    tok, x, y1, y2 = forced_files
    r = run("infer-mixture", "-t", tok, "--category", f"X={x}", "--category", f"Y={y1}", "--no-progress")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["X   66.67%", "Y   33.33%"]
    # a repeated name pools its files: Y's counts and bytes double, the shares stay
    r = run("infer-mixture", "-t", tok, "-c", f"X={x}", "-c", f"Y={y1}", "-c", f"Y={y2}", "--json", "--no-progress")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["proportions"]["X"] == pytest.approx(2 / 3, abs=1e-6)
    assert out["sample_bytes"] == {"X": 11, "Y": 22}
    assert out["merges_used"] == 3


def test_cli_bad_input(forced_files, tmp_path):
    tok, x, _, _ = forced_files
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ab \xff\xfe")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    not_tok = tmp_path / "not_tok.json"
    not_tok.write_text('{"hello": 1}', encoding="utf-8")
    cases = [
        (["-c", f"X{x}"], 2, "NAME=FILE"),
        (["-c", f"X={tmp_path / 'missing.txt'}"], 2, "no such file"),
        (["-c", f"X={x}", "--merges", "0"], 2, "--merges"),
        (["-c", f"X={bad}"], 1, "not valid UTF-8"),
        (["-c", f"X={x}", "-c", f"Y={empty}"], 1, "empty"),
    ]
    for extra, code, needle in cases:
        r = run("infer-mixture", "-t", tok, "--no-progress", *extra)
        assert r.exit_code == code, (extra, r.output)
        assert needle in r.output and "Traceback" not in r.output, r.output
    r = run("infer-mixture", "-t", not_tok, "-c", f"X={x}", "--no-progress")
    assert r.exit_code == 1 and r.output.startswith("error: ") and len(r.output.strip().splitlines()) == 1
    r = run("infer-mixture", "-c", f"X={x}")
    assert r.exit_code == 2
