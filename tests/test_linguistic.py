"""Linguistic evaluation: boundary P/R/F1, %TR and %Pure against hand segmentations and real analysers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenlab.byte_tokenizer import ByteTokenizer
from tokenlab.cli import main
from tokenlab.errors import InvalidInputError
from tokenlab.evaluate.linguistic import (
    MarkedGold,
    analyser_for,
    boundary_scores,
    morph_scores,
    token_byte_ends,
)


class PieceTokenizer:
    """Greedy longest match over a fixed list of string pieces (plus every single character)."""

    def __init__(self, pieces):
        self.pieces = sorted(set(pieces), key=len, reverse=True)
        self.table: list[bytes] = []

    def _id(self, piece: str) -> int:
        data = piece.encode()
        if data not in self.table:
            self.table.append(data)
        return self.table.index(data)

    def encode(self, text: str) -> list[int]:
        out, pos = [], 0
        while pos < len(text):
            piece = next((p for p in self.pieces if text.startswith(p, pos)), text[pos])
            out.append(self._id(piece))
            pos += len(piece)
        return out

    def token_bytes(self, i: int) -> bytes:
        return self.table[i]


def test_boundary_scores_known_counts():
    s = boundary_scores([{2, 5}, {3}], [{2, 4}, set()])
    assert (s.tp, s.fp, s.fn, s.words) == (1, 2, 1, 2)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(1 / 2)
    assert s.f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))


def test_morph_scores_hand_segmented_turkish():
    gold, text = MarkedGold.from_marked("ev+ler+imiz+den kitap+lar")
    assert text == "evlerimizden kitaplar"
    tok = PieceTokenizer(["ev", "ler", "imi", "zden", " kitap", "lar"])
    assert [tok.token_bytes(i) for i in tok.encode(text)] == [b"ev", b"ler", b"imi", b"zden", b" kitap", b"lar"]
    s = morph_scores(tok, text, gold)
    # word 1: predicted {2, 5, 8} vs gold {2, 5, 9}; word 2: {5} vs {5}
    assert (s.tp, s.fp, s.fn) == (3, 1, 1)
    assert s.precision == pytest.approx(0.75) and s.recall == pytest.approx(0.75) and s.f1 == pytest.approx(0.75)
    # distinct tokens: ev ler imi zden kitap lar; zden crosses imiz|den; imi and zden are no morpheme or word
    assert s.unique_tokens == 6
    assert s.pure_percent == pytest.approx(100 * 5 / 6)
    assert s.tr_percent == pytest.approx(100 * 4 / 6)
    assert s.examples["impure"] == ["zden"]


def test_whole_word_tokens_have_full_precision_no_recall():
    gold, text = MarkedGold.from_marked("ev+ler kitap+lar")
    s = morph_scores(PieceTokenizer(["evler", " kitaplar"]), text, gold)
    assert (s.tp, s.fp, s.fn) == (0, 0, 2)
    assert s.recall == 0.0 and math.isnan(s.precision)
    assert s.pure_percent == 0.0 and s.tr_percent == 100.0


def test_boundary_inside_a_character_is_a_false_positive():
    gold, text = MarkedGold.from_marked("çok+lu")  # ç is 2 bytes: the morpheme boundary is byte 4
    s = morph_scores(ByteTokenizer(), text, gold)
    assert (s.tp, s.fp, s.fn) == (1, 4, 0)
    assert token_byte_ends(ByteTokenizer(), text) == [1, 2, 3, 4, 5, 6]


def test_huffman_code_symbols_align_as_one_unit():
    """A Huffman word is several code symbols that spell nothing alone: they all end where the word ends."""
    from tokenlab.train.frequency import train_huffman

    tok = train_huffman(["evler kitaplar okul"] * 3 + ["a b c d e f g"], vocab_size=258, progress=False)
    text = "evler kitaplar"
    ids = tok.encode(text)
    assert len(ids) > 2  # two symbols per code: several ids per word
    ends = token_byte_ends(tok, text)
    assert len(ends) == len(ids) and set(ends) == {5, 14}  # "evler" | " kitaplar"
    gold, text = MarkedGold.from_marked("ev+ler kitap+lar")
    s = morph_scores(tok, text, gold)
    assert (s.tp, s.fp, s.fn) == (0, 0, 2) and s.tr_percent == 100.0 and s.pure_percent == 0.0


def test_gold_must_spell_the_word():
    with pytest.raises(InvalidInputError):
        MarkedGold({"evler": ["ev", "ller"]})
    with pytest.raises(InvalidInputError):
        MarkedGold.from_marked("ev++ler")


def test_sentencepiece_style_tokens_align_by_decoding():
    class Metaspace(PieceTokenizer):
        """Pieces spell spaces as '▁', so token bytes do not concatenate to the text."""

        def token_bytes(self, i):
            return self.table[i].replace(b" ", "\u2581".encode())

        def decode_bytes(self, ids):
            return b"".join(self.table[i] for i in ids)

    gold, text = MarkedGold.from_marked("ev+ler kitap+lar")
    tok = Metaspace(["ev", "ler", " kitap", "lar"])
    s = morph_scores(tok, text, gold)
    assert (s.tp, s.fp, s.fn) == (2, 0, 0) and s.pure_percent == 100.0


# ---------------------------------------------------------------------------- real analysers (the [test] extra)
def _morphs(analyser, text):
    return [w.morphemes for w in analyser.analyse(text)]


def test_zeyrek_turkish():
    pytest.importorskip("zeyrek")
    a = analyser_for("tr")
    assert _morphs(a, "Evlerimizden gidiyorum") == [("Ev", "ler", "imiz", "den"), ("gid", "iyor", "um")]
    assert a.is_word("kitap") and not a.is_word("xqzw")


ZEYREK_PROBE = """
import json, sys
from tokenlab.evaluate.linguistic import analyser_for
a = analyser_for("tr")
print(json.dumps([a.segment(w) for w in sys.argv[1:]]))
"""


@pytest.mark.slow
def test_zeyrek_segmentation_does_not_depend_on_the_hash_seed():
    """zeyrek alone gives these words different (or no) analyses under different hash seeds (about 20 s)."""
    pytest.importorskip("zeyrek")
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    words = ["Adı", "adı", "adım", "adında", "adının", "Tarama"]
    src = str(Path(__file__).resolve().parent.parent / "src")
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": src}
        run = subprocess.run([sys.executable, "-c", ZEYREK_PROBE, *words], env=env, capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        outs.append(json.loads(run.stdout.strip().splitlines()[-1]))
    assert outs[0] == outs[1]
    assert outs[0][:3] == [["Ad", "ı"], ["ad", "ı"], ["ad", "ım"]]


def test_pymorphy_russian_stem_and_ending():
    pytest.importorskip("pymorphy3")
    a = analyser_for("ru")
    assert _morphs(a, "столами пользователей") == [("стол", "ами"), ("пользовател", "ей")]


def test_kiwi_korean_contraction_has_no_inner_boundary():
    pytest.importorskip("kiwipiepy")
    words = analyser_for("ko").analyse("학교에 갔습니다")
    assert [w.morphemes for w in words] == [("학교", "에"), ("갔", "습니다")]


def test_fugashi_japanese_words():
    pytest.importorskip("fugashi")
    assert _morphs(analyser_for("ja"), "私は学校へ行きました") == [("私", "は", "学校", "へ", "行き", "まし", "た")]


def test_jieba_chinese_words():
    pytest.importorskip("jieba")
    assert _morphs(analyser_for("zh_Hans"), "我来到北京清华大学") == [("我", "来到", "北京", "清华大学")]


def test_morfessor_finds_shared_suffixes():
    pytest.importorskip("morfessor")
    stems = ["walk", "talk", "jump", "play", "kick", "look", "call", "help", "work", "pull"]
    words = [s + suf for s in stems for suf in ("", "ed", "ing", "s")]
    a = analyser_for("morfessor", [" ".join(words)] * 5)
    segs = {w: a.segment(w) for w in words}
    assert all("".join(m) == w for w, m in segs.items())
    split = sum(segs[s + suf] == [s, suf] for s in stems for suf in ("ed", "ing"))
    assert split >= 16, segs


def test_unknown_language_is_an_error():
    with pytest.raises(InvalidInputError, match="no morphological analyser"):
        analyser_for("xx")


# ---------------------------------------------------------------------------- CLI and compare
def test_morph_eval_cli_gold(tmp_path):
    gold = tmp_path / "gold.txt"
    gold.write_text("ev+ler+imiz+den kitap+lar\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["morph-eval", "utf8-bytes", "--gold", str(gold), "--json"])
    assert r.exit_code == 0, r.output
    import json

    row = json.loads(r.output)[0]
    # every byte boundary inside the two words (11 + 7) is predicted; the 4 gold ones are among them
    assert (row["tp"], row["fp"], row["fn"]) == (4, 14, 0)


def test_morph_eval_cli_errors(tmp_path):
    r = CliRunner().invoke(main, ["morph-eval", "utf8-bytes", "-l", "de"])
    assert r.exit_code == 1 and "error: no morphological analyser" in r.output


def test_compare_has_a_linguistic_section(tmp_path):
    pytest.importorskip("jieba")
    from tokenlab.evaluate.report import compare, render_html

    cmp = compare({"bytes": ByteTokenizer()}, corpora=["code"], limit_bytes=2000, linguistic=["zh_Hans"],
                  progress=False)
    row = cmp.linguistic["bytes"]["zh_Hans"]
    assert row["analyser"] == "jieba" and row["recall"] == 1.0 and 0 < row["precision"] < 1
    html = render_html(cmp)
    assert "id='linguistic'" in html and "data-lang='zh_Hans'" in html


def test_unigram_vs_bpe_figures_in_docs_are_measured():
    """docs/research-linguistic.md reports the ordering on Russian; the figures must be the code's."""
    pytest.importorskip("pymorphy3")
    from tokenlab.evaluate.data import django_parallel
    from tokenlab.evaluate.linguistic import unigram_vs_bpe

    rows = unigram_vs_bpe(django_parallel(["en", "ru"])["ru"], analyser_for("ru"), vocab_sizes=[1000])
    doc = (Path(__file__).parent.parent / "docs" / "research-linguistic.md").read_text(encoding="utf-8")
    for r in rows:
        line = (f"| ru | {r['vocab_size']} | {r['algorithm']} | {r['precision']:.3f} | {r['recall']:.3f} | "
                f"{r['f1']:.3f} |")
        assert line in doc, line
