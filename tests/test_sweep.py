"""Sweeps over vocab size × pre-tokenizer × algorithm, and the vocab size each language needs for parity."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from tokenlab.byte_tokenizer import ByteTokenizer
from tokenlab.cli import main
from tokenlab.errors import InvalidInputError
from tokenlab.evaluate.sweep import _interpolate_size, parity_vocab_sizes, sweep, sweep_plot

PAR = {"en": ["the cat sat on the mat", "a dog ate a bone"] * 20,
       "de": ["die Katze sass auf der Matte", "ein Hund frass einen Knochen"] * 20}


def test_sweep_rows_known_values(tmp_path):
    train = PAR["en"] + PAR["de"]
    rows = sweep(train, PAR, vocab_sizes=[300, 400], pretokenizers=["gpt2"], algorithms=["bpe", "huffman"],
                 baseline=ByteTokenizer())
    assert [(r["algorithm"], r["vocab_size"]) for r in rows] == [("bpe", 300), ("bpe", 400), ("huffman", 300),
                                                                ("huffman", 400)]
    n_bytes = sum(len(t.encode()) for lines in PAR.values() for t in lines)
    for r in rows:
        assert r["bytes_per_token"] == pytest.approx(n_bytes / r["tokens"])
        assert r["nsl"] == pytest.approx(r["tokens"] / n_bytes)  # the byte baseline spends one token per byte
        assert r["premiums"]["en"] == 1.0
    # huffman at 400: every training word has a one-symbol code -> tokens = pretokens
    words = sum(len(t.split()) for lines in PAR.values() for t in lines)
    assert rows[-1]["tokens"] == words
    sweep_plot(rows, tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(InvalidInputError):
        sweep(train, {"de": PAR["de"]}, vocab_sizes=[300])
    with pytest.raises(InvalidInputError):
        sweep(train, PAR, vocab_sizes=[300], algorithms=["lib"])


def test_interpolation_on_log_vocab():
    assert _interpolate_size([100, 400], [200, 100], 150) == pytest.approx(200.0)  # halfway in log space
    assert _interpolate_size([100, 400], [90, 80], 150) == 100.0
    assert _interpolate_size([100, 400], [300, 200], 150) is None
    assert math.isclose(_interpolate_size([100, 200, 400], [300, 200, 100], 200), 200.0)


def test_parity_vocab_reference_is_its_own_parity():
    out = parity_vocab_sizes(PAR, [300, 350, 400], reference="en", reference_vocab=350)
    assert out["en"]["parity_vocab"] == pytest.approx(350.0) or out["en"]["tokens"][300] <= out["en"]["target_tokens"]
    for r in out.values():
        toks = list(r["tokens"].values())
        assert toks == sorted(toks, reverse=True)  # more vocab, fewer tokens
    with pytest.raises(InvalidInputError):
        parity_vocab_sizes(PAR, [300])


def test_sweep_cli_small(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(PAR["en"] + PAR["de"]), encoding="utf-8")
    r = CliRunner().invoke(main, ["sweep", str(corpus), "--vocab-sizes", "300", "--pretokenizers", "gpt2",
                                  "--algorithms", "bpe", "--languages", "en,de", "--baseline", "utf8-bytes",
                                  "--json", "--no-progress", "--plot", str(tmp_path / "p.png")])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert set(row["premiums"]) == {"en", "de"} and row["nsl"] < 1
    r = CliRunner().invoke(main, ["sweep", "--vocab-sizes", "12", "--no-progress"])
    assert r.exit_code == 2 and "vocab sizes >= 300" in r.output
