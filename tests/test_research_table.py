"""The one-command comparison table: every registered trainer and method, measured the same way."""

from __future__ import annotations

import json
import pydoc_data.topics

import pytest
from click.testing import CliRunner

from tokenlab import InvalidInputError
from tokenlab.cli import main
from tokenlab.cli.core import ALGORITHMS, METHODS
from tokenlab.models.wordpiece import minilm_vocab_path
from tokenlab.research_table import research_table, split_corpus, to_markdown

OURS = ["bpe", "superbpe", "boundless", "scaffold", "char-bpe"]


@pytest.fixture(scope="module")
def docs():
    topics = pydoc_data.topics.topics
    return [topics[k] for k in sorted(topics)[:40]]


@pytest.fixture(scope="module")
def rows(docs):
    return research_table(docs, 800, algorithms=OURS, methods=[])


def test_metrics_recomputed_by_hand(docs, rows):
    train, held_out = split_corpus(docs)
    tok = ALGORITHMS["bpe"](iter(train), vocab_size=800, pretokenizer="gpt2", special_tokens=(), min_frequency=0,
                            split_digits=None, progress=False)
    ids = tok.encode(held_out)
    bpe = next(r for r in rows if r.name == "bpe")
    assert bpe.tokens == len(ids)
    assert bpe.bytes_per_token == pytest.approx(len(held_out.encode("utf-8")) / len(ids))
    assert bpe.tokens_per_word == pytest.approx(len(ids) / len(held_out.split()))
    assert bpe.vocab_use == pytest.approx(len(set(ids)) / len(tok.vocab))
    assert bpe.lossless and bpe.vs_bpe == 0


def test_all_rows_measured(rows):
    by = {r.name: r for r in rows}
    assert set(by) == set(OURS)
    for r in rows:
        assert not r.error, r
        assert r.lossless, r.name  # all of these decode exactly
        assert 0 < r.vocab_use <= 1
    assert by["char-bpe"].bytes_per_token < by["bpe"].bytes_per_token  # 3-character tokens compress less
    md = to_markdown(rows)
    assert md.count("\n| ") == len(rows) and "bytes/token" in md


def test_picks_up_whatever_is_registered(docs, monkeypatch):
    def shortest(tok, text, allowed_special=(), **options):
        """Every byte its own token."""
        return [tok.byte_ids[b] for b in text.encode("utf-8")]

    def broken(corpus, **kw):
        """Always fails."""
        raise ValueError("boom")

    monkeypatch.setitem(METHODS, "bytes-only", shortest)
    monkeypatch.setitem(ALGORITHMS, "broken", broken)
    rows = research_table(docs[:10], 400, algorithms=None, methods=None)
    by = {r.name: r for r in rows}
    assert "bpe + bytes-only" in by and by["bpe + bytes-only"].bytes_per_token == pytest.approx(1.0)
    assert "ValueError: boom" in by["broken"].error  # one broken trainer does not hide the rest
    assert set(ALGORITHMS) <= set(by)
    from tokenlab.encode.methods import METHOD_ALIASES

    assert {f"bpe + {m}" for m in METHODS if m != "merge" and m not in METHOD_ALIASES} <= set(by)
    assert not {f"bpe + {m}" for m in METHOD_ALIASES} & set(by)


def test_split_corpus():
    train, held = split_corpus(["a" * 50, "b" * 30, "c" * 20], 0.2)
    assert train == ["a" * 50, "b" * 30] and held == "c" * 20
    train, held = split_corpus(["line one\nline two\nline three\n"], 0.3)
    assert "".join(train) + held == "line one\nline two\nline three\n" and held == "line three\n"
    with pytest.raises(InvalidInputError):
        split_corpus(["", ""])


def test_cli_one_command(docs, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(docs[:30]), encoding="utf-8")
    out = tmp_path / "table.md"
    runner = CliRunner()
    res = runner.invoke(main, ["research-table", str(corpus), "--vocab-size", "600", "--algorithms",
                               "bpe,superbpe,scaffold", "--methods", "none", "--tokenizer", str(minilm_vocab_path()),
                               "-o", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    table = out.read_text(encoding="utf-8")
    for name in ("| bpe |", "| superbpe |", "| scaffold |", "vocab.txt"):
        assert name in table
    res = runner.invoke(main, ["research-table", "--corpus", str(corpus), "--vocab-size", "600", "--algorithms",
                               "bpe", "--methods", "none", "--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert [r["name"] for r in json.loads(res.stdout)] == ["bpe"]


def test_cli_bad_input(tmp_path):
    runner = CliRunner()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("some text\n" * 50, encoding="utf-8")
    for args in (["--algorithms", "nope"], ["--methods", "nope"]):
        res = runner.invoke(main, ["research-table", str(corpus), "--no-progress", *args])
        assert res.exit_code == 1 and res.output.count("error:") == 1 and "Traceback" not in res.output
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    res = runner.invoke(main, ["research-table", str(empty), "--no-progress"])
    assert res.exit_code == 1 and "error: " in res.output
    res = runner.invoke(main, ["research-table", "--no-progress"])
    assert res.exit_code == 2
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\xff\xfe")
    res = runner.invoke(main, ["research-table", str(bad), "--no-progress"])
    assert res.exit_code == 1 and "UTF-8" in res.output


def test_other_cli_commands_accept_every_model(docs, tmp_path):
    """info / viz / decode / encode --ordinary work on each model format, not only on BPE."""
    import tokenlab.models  # noqa: F401
    from tokenlab import save_tokenizer
    from tokenlab.models.wordpiece import WordPieceTokenizer

    models = {name: ALGORITHMS[name](iter(docs[:8]), vocab_size=400, pretokenizer="gpt2", special_tokens=(),
                                     min_frequency=0, split_digits=None, progress=False)
              for name in ("superbpe", "boundless", "scaffold", "char-bpe")}
    models["wordpiece"] = WordPieceTokenizer.from_vocab_txt(minilm_vocab_path())
    runner = CliRunner()
    text = "Tokenizers split text: naïve café 12345"
    for name, tok in models.items():
        path = tmp_path / f"{name}.json"
        save_tokenizer(tok, path)
        ids = tok.encode(text)
        for args in (["info", str(path)], ["viz", "-t", str(path), "--no-color", text],
                     ["decode", "-t", str(path), *map(str, ids)], ["encode", "-t", str(path), "--ordinary", text]):
            res = runner.invoke(main, args)
            assert res.exit_code == 0, (name, args, res.output)
        res = runner.invoke(main, ["decode", "-t", str(path), *map(str, ids)])
        assert res.stdout.rstrip("\n") == tok.decode(ids)


class _Bytes:
    """Every UTF-8 byte its own token: each inner position of a word is a boundary."""

    def encode(self, text):
        return list(text.encode("utf-8"))

    def token_bytes(self, i):
        return bytes([i])

    def decode(self, ids):
        return bytes(ids).decode("utf-8")


def test_morphology_columns_known_answers(monkeypatch):
    """Boundary F1 / %TR / %Pure per row against a hand gold: the byte row, a whole-word BPE and a method row."""
    from tokenlab.evaluate.linguistic import MarkedGold, morph_scores

    gold, text = MarkedGold.from_marked("ev+ler kitap+lar")
    monkeypatch.setitem(METHODS, "bytes-only", lambda tok, t, **kw: [tok.byte_ids[b] for b in t.encode("utf-8")])
    rows = research_table(["evler kitaplar\n" * 60], 300, algorithms=["bpe"], methods=["bytes-only"],
                          eval_text=text, tokenizers={"bytes": _Bytes()}, morphology=gold)
    by = {r.name: r for r in rows}
    # evler: 4 inner byte boundaries, 1 gold; kitaplar: 7 inner, 1 gold -> P = 2/11, R = 1, F1 = 4/13
    for name in ("bytes", "bpe + bytes-only"):
        assert by[name].boundary_f1 == pytest.approx(4 / 13), name
        assert by[name].pure_percent == 100.0 and by[name].tr_percent == 0.0  # single letters: no morpheme/word
    bpe = by["bpe"]  # learnt both words whole: no boundary found, every token a word, none pure
    assert bpe.tokens == 2 and bpe.boundary_f1 == 0.0 and bpe.tr_percent == 100.0 and bpe.pure_percent == 0.0
    md = to_markdown(rows)
    assert "boundary F1" in md and "| 0.308 | 0.0 | 100.0 |" in md
    assert "boundary F1" not in to_markdown(research_table(["evler kitaplar\n" * 60], 300, algorithms=["bpe"],
                                                           methods=[], eval_text=text))
    # the same figure as morph_scores on the trained model
    tok = ALGORITHMS["bpe"](iter(["evler kitaplar\n" * 60]), vocab_size=300, pretokenizer="gpt2", special_tokens=(),
                            min_frequency=0, split_digits=None, progress=False)
    assert morph_scores(tok, text, gold).f1 == bpe.boundary_f1


def test_morphology_cli(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("evler kitaplar\n" * 60, encoding="utf-8")
    held = tmp_path / "held.txt"
    held.write_text("evler kitaplar", encoding="utf-8")
    gold = tmp_path / "gold.txt"
    gold.write_text("ev+ler kitap+lar\n", encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(main, ["research-table", str(corpus), "--eval", str(held), "--algorithms", "bpe", "--methods",
                               "none", "--vocab-size", "300", "--morphology", f"gold:{gold}", "--json",
                               "--no-progress"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)[0]
    assert row["boundary_f1"] == 0.0 and row["tr_percent"] == 100.0
    res = runner.invoke(main, ["research-table", str(corpus), "--algorithms", "bpe", "--methods", "none",
                               "--morphology", "klingon", "--no-progress"])
    assert res.exit_code == 1 and res.output.count("error:") == 1 and "Traceback" not in res.output


@pytest.mark.slow
def test_morphology_table_in_docs_is_measured(tmp_path):
    """docs/research-trainers.md's Russian table with boundary F1 / %TR / %Pure, recomputed (about 30 s)."""
    pytest.importorskip("pymorphy3")
    from pathlib import Path

    runner = CliRunner()
    assert runner.invoke(main, ["eval-data", "-o", str(tmp_path), "--languages", "ru",
                                "--limit-bytes", "1000"]).exit_code == 0
    res = runner.invoke(main, ["research-table", str(tmp_path / "ru.txt"), "--vocab-size", "1000", "--methods", "none",
                               "--morphology", "ru", "--algorithms",
                               "bpe,unigram,superbpe,boundless,scaffold,char-bpe,huffman,lib", "--json",
                               "--no-progress"])
    assert res.exit_code == 0, res.output
    measured = {r["name"]: r for r in json.loads(res.stdout)}
    doc = (Path(__file__).resolve().parent.parent / "docs/research-trainers.md").read_text(encoding="utf-8")
    section = doc[doc.index("### Morphology columns"):]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in measured and cells[0] not in rows:
            rows[cells[0]] = cells
    assert set(rows) == set(measured)
    for name, cells in rows.items():
        r = measured[name]
        assert int(cells[2]) == r["tokens"], name
        assert cells[3] == f"{r['bytes_per_token']:.3f}", name
        assert cells[4:8] == [f"{r['tokens_per_word']:.3f}", f"{100 * r['vocab_use']:.1f}%",
                              "yes" if r["lossless"] else "no", f"{100 * r['vs_bpe']:+.1f}%"], name
        assert cells[10:13] == [f"{r['boundary_f1']:.3f}", f"{r['tr_percent']:.1f}", f"{r['pure_percent']:.1f}"], name
    assert "(0.267 vs 0.266) at 9% worse" in section
    assert f"({measured['unigram']['boundary_f1']:.3f} vs {measured['bpe']['boundary_f1']:.3f}) at " \
           f"{-100 * measured['unigram']['vs_bpe']:.0f}% worse" in section
