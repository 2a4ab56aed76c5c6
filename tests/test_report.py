"""The compare report: numbers against tiktoken, HTML structure parsed back, CLI happy and bad paths."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from tokenlab.cli import main
from tokenlab.evaluate.data import django_parallel
from tokenlab.evaluate.report import compare, format_table, reference_tokenizer, render_html, token_spans

LANGS = ["de", "ru", "ja"]


class _Collect(HTMLParser):
    """Tables (rows of cell attrs + text), images and sample spans of a report."""

    def __init__(self):
        super().__init__()
        self.tables, self.imgs, self.spans, self._cell, self._span, self._table = [], [], [], None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = {"class": a.get("class"), "rows": []}
            self.tables.append(self._table)
        elif tag == "tr" and self._table is not None:
            self._table["rows"].append({"attrs": a, "cells": []})
        elif tag in ("td", "th") and self._table is not None:
            self._cell = {"attrs": a, "text": ""}
            self._table["rows"][-1]["cells"].append(self._cell)
        elif tag == "img":
            self.imgs.append(a)
        elif tag == "span":
            self._span = {"attrs": a, "text": ""}
            self.spans.append(self._span)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None
        elif tag == "span":
            self._span = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._span is not None:
            self._span["text"] += data


@pytest.fixture(scope="module")
def code_file(tmp_path_factory):
    from tokenlab.evaluate.data import stdlib_code

    path = tmp_path_factory.mktemp("corpus") / "code.py.txt"
    path.write_text("\n".join(stdlib_code(30_000)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def result(cl100k, trained, code_file):
    return compare({"cl100k": cl100k, "mine": trained}, ["parallel", str(code_file)], languages=LANGS)


def test_compare_numbers_match_tiktoken(result, cl100k_ref, code_file):
    par = django_parallel(["en"] + LANGS)
    totals = {lang: sum(len(cl100k_ref.encode_ordinary(s)) for s in v) for lang, v in par.items()}
    assert result.premiums["cl100k"] == {k: pytest.approx(v / totals["en"]) for k, v in totals.items()}
    joined = ["\n".join(v) for v in par.values()]
    assert result.rows["cl100k"]["parallel"]["tokens"] == sum(len(cl100k_ref.encode_ordinary(t)) for t in joined)
    code = code_file.read_text(encoding="utf-8")
    row = result.rows["cl100k"][str(code_file)]
    assert row["tokens"] == len(cl100k_ref.encode_ordinary(code))
    assert row["bytes_per_token"] == pytest.approx(len(code.encode()) / row["tokens"])
    assert result.vocab_sizes == {"cl100k": 100_256, "mine": 2998}
    assert sum(result.length_counts["cl100k"].values()) == sum(r["tokens"] for r in result.rows["cl100k"].values())


def test_sample_spans_spell_the_text(result, cl100k_ref):
    for k, (_label, text) in enumerate(result.samples):
        spans = result.pieces["cl100k"][k]
        assert "".join(s for s, _ in spans) == text
        assert [i for _, ids in spans for i in ids] == cl100k_ref.encode_ordinary(text)
    assert {label for label, _ in result.samples} >= {"en", "de", "ru", "ja", "code.py", "numbers"}
    # without token bytes (a plain callable) spans show the ids
    assert token_spans(lambda t: [1, 2], "ab") == [("1", [1]), ("2", [2])]


def test_html_structure(result):
    page = render_html(result, title="T & <test>")
    assert page.startswith("<!DOCTYPE html>") and "T &amp; &lt;test&gt;" in page
    p = _Collect()
    p.feed(page)
    metrics = next(t for t in p.tables if t["class"] == "metrics")
    body = [r for r in metrics["rows"] if "data-tokenizer" in r["attrs"]]
    assert len(body) == 4  # 2 tokenizers x 2 corpora
    for r in body:
        row = result.rows[r["attrs"]["data-tokenizer"]][r["attrs"]["data-corpus"]]
        for cell in r["cells"]:
            if "data-metric" in cell["attrs"]:
                assert float(cell["attrs"]["data-value"]) == pytest.approx(row[cell["attrs"]["data-metric"]])
    tokens_cell = next(c for c in body[0]["cells"] if c["attrs"].get("data-metric") == "tokens")
    assert tokens_cell["text"] == f"{result.rows[body[0]['attrs']['data-tokenizer']]['parallel']['tokens']:,}"
    premiums = next(t for t in p.tables if t["class"] == "premiums")
    shown = {r["attrs"]["data-lang"]: float(r["cells"][1]["text"]) for r in premiums["rows"][1:]}
    assert shown == {k: pytest.approx(v, abs=0.005) for k, v in result.premiums["cl100k"].items()}
    charts = {img["id"]: img["src"] for img in p.imgs}
    assert set(charts) == {"premium-chart", "length-chart"}
    for src in charts.values():
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert any("partial" in (s["attrs"].get("class") or "") for s in p.spans)  # grouped byte pieces (Japanese)
    assert next(t for t in p.tables if t["class"] == "numbers")
    scripts = next(t for t in p.tables if t["class"] == "scripts")
    latin = next(r for r in scripts["rows"] if r["attrs"].get("data-class") == "Latin")
    assert float(latin["cells"][1]["attrs"]["data-value"]) == pytest.approx(result.scripts["cl100k"]["Latin"])


def test_text_table(result):
    table = format_table(result).splitlines()
    assert len(table) == 5 and "bytes/token" in table[0] and "mean premium" in table[0]
    line = next(x for x in table if x.startswith("cl100k") and "parallel" in x)
    assert f"{result.rows['cl100k']['parallel']['tokens']:,}" in line


def test_compare_cli(tmp_path, trained, code_file):
    tok = tmp_path / "mine.json"
    trained.save(tok)
    out = tmp_path / "r.html"
    runner = CliRunner()
    res = runner.invoke(main, ["compare", str(tok), str(tok), "-c", str(code_file), "-c", "parallel", "--languages",
                               "ja,ko", "-o", str(out), "--json", str(tmp_path / "r.json"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "mine#2" in res.output and out.read_text(encoding="utf-8").count("<table") == 4
    data = json.loads((tmp_path / "r.json").read_text())
    assert set(data["premiums"]["mine"]) == {"en", "ja", "ko"}
    assert data["rows"]["mine"] == data["rows"]["mine#2"]
    for args, code in [(["compare", str(tmp_path / "nope.json")], 1),
                       (["compare", str(tok), "--languages", "de,zz"], 1),
                       (["compare", str(tok), "--languages", ","], 2),
                       (["compare", str(tok), "-c", str(tmp_path / "none.txt")], 1),
                       (["compare", "train:prose:abc"], 1),
                       (["metrics", str(tmp_path / "nope.json")], 1)]:
        res = runner.invoke(main, args)
        assert res.exit_code == code, (args, res.output)
        assert "Traceback" not in res.output and res.output.count("rror") == 1, res.output


def test_metrics_cli(tmp_path, trained):
    tok = tmp_path / "mine.json"
    trained.save(tok)
    res = CliRunner().invoke(main, ["metrics", str(tok), "-c", "parallel", "--languages", "el", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    par = django_parallel(["en", "el"])
    en = sum(len(trained.encode_ordinary(s)) for s in par["en"])
    el = sum(len(trained.encode_ordinary(s)) for s in par["el"])
    assert data["token_premium"]["el"] == pytest.approx(el / en)
    assert sum(data["script_coverage"].values()) == pytest.approx(1.0)
    res = CliRunner().invoke(main, ["metrics", str(tok), "-c", "parallel", "--languages", "el"])
    assert res.exit_code == 0 and f"el={el / en:.2f}" in res.output and "script coverage: Latin=" in res.output


def test_reference_tokenizer_errors(tmp_path):
    from tokenlab.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="short name"):
        reference_tokenizer(str(tmp_path / "x.json"))
    with pytest.raises(InvalidInputError, match="VOCAB_SIZE >= 300"):
        reference_tokenizer("train:prose:10")


def test_compare_any_encoder(trained, code_file):
    """Objects that only have encode() (here HF tokenizers built from the same model) are compared too."""
    from tokenizers import Tokenizer as HFTokenizer

    from tokenlab.io import to_hf_json_str

    hf = HFTokenizer.from_str(to_hf_json_str(trained))
    res = compare({"hf": hf, "ours": trained}, [str(code_file)])
    ours, theirs = res.rows["ours"][str(code_file)], res.rows["hf"][str(code_file)]
    assert theirs["tokens"] == ours["tokens"] and theirs["renyi"] == pytest.approx(ours["renyi"])
    # no token bytes: words are aligned by the character offsets HF reports
    assert theirs["fertility"] == pytest.approx(ours["fertility"])
    assert theirs["continued_words"] == pytest.approx(ours["continued_words"])
    assert "vocab_used" not in theirs and "hf" not in res.numbers
    assert "<table" in render_html(res)
