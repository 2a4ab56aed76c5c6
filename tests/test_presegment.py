"""Language-aware pre-segmentation: reversible pieces, tokens never crossing them, training, files, CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenlab.cli import main
from tokenlab.errors import InvalidInputError
from tokenlab.presegment import (
    CompoundSplitter,
    PresegmentedTokenizer,
    get_segmenter,
    load_presegmented,
    train_presegmented,
)
from tokenlab.train.bpe import train_bpe

COUNTS = {"benutzer": 50, "verwaltung": 40, "benutzerverwaltung": 2, "daten": 30, "bank": 20, "datenbank": 90,
          "passwort": 10}


def test_compound_known_splits():
    cs = CompoundSplitter(COUNTS)
    assert cs.split_word("Benutzerverwaltung") == ["Benutzer", "verwaltung"]  # sqrt(50*40) > 2
    assert cs.split_word("Datenbank") == ["Datenbank"]  # sqrt(30*20) < 90: stays whole
    assert cs.split_word("Passwort") == ["Passwort"]
    assert cs("Die Benutzerverwaltung.") == ["Die Benutzer", "verwaltung."]


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("benutzrvwalgdk .,ÄÖü日\n")), max_size=60))
def test_pieces_always_spell_the_text(text):
    pieces = CompoundSplitter(COUNTS, min_part=2)(text)
    assert "".join(pieces) == text and all(pieces)


def test_tokens_never_cross_a_piece_boundary():
    base = train_bpe(["benutzerverwaltung " * 50], vocab_size=300, pretokenizer="gpt2", progress=False)
    whole = base.encode_ordinary("benutzerverwaltung")
    tok = PresegmentedTokenizer(base, CompoundSplitter(COUNTS))
    ids = tok.encode("benutzerverwaltung")
    assert len(whole) < len(ids) and tok.decode(ids) == "benutzerverwaltung"
    ends, pos = [], 0
    for i in ids:
        pos += len(tok.token_bytes(i))
        ends.append(pos)
    assert len("benutzer") in ends


@pytest.mark.slow  # loads Kiwi's model (~10 s) and analyses 300 strings
def test_train_with_korean_morphemes_and_round_trip(tmp_path):
    pytest.importorskip("kiwipiepy")
    from tokenlab.evaluate.data import django_parallel

    ko = django_parallel(["en", "ko"])["ko"]
    seg = get_segmenter("ko")
    tok = train_presegmented(ko[:300], seg, vocab_size=600, progress=False)
    for text in ko[:50]:
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        pos, ends = 0, set()
        for i in ids:
            pos += len(tok.token_bytes(i))
            ends.add(pos)
        piece_ends, pos = set(), 0
        for piece in seg(text):
            pos += len(piece.encode())
            piece_ends.add(pos)
        assert piece_ends <= ends  # every morpheme boundary is a token boundary
    tok.save(tmp_path / "p.json")
    again = load_presegmented(tmp_path / "p.json")
    assert again.encode(ko[3]) == tok.encode(ko[3])


def test_compound_tokenizer_file_round_trip(tmp_path):
    docs = ["Benutzerverwaltung Benutzer Verwaltung Benutzer Verwaltung"] * 10
    tok = train_presegmented(docs, CompoundSplitter.from_texts(docs), vocab_size=300, progress=False)
    tok.save(tmp_path / "c.json")
    from tokenlab.io import load_tokenizer

    again = load_tokenizer(tmp_path / "c.json")
    assert again.encode("Benutzerverwaltung") == tok.encode("Benutzerverwaltung")
    with pytest.raises(InvalidInputError):
        train_presegmented(docs, CompoundSplitter.from_texts(docs), algorithm="wordpiece")


def test_presegment_cli(tmp_path):
    corpus = tmp_path / "de.txt"
    corpus.write_text("Benutzerverwaltung und Benutzer und Verwaltung\n" * 20, encoding="utf-8")
    out = tmp_path / "t.json"
    r = CliRunner().invoke(main, ["presegment-train", str(corpus), "-o", str(out), "--segmenter", "compound",
                                  "--vocab-size", "300", "--no-progress"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["encode", "-t", str(out), "Benutzerverwaltung"])
    assert r.exit_code == 0, r.output
    pytest.importorskip("jieba")
    r = CliRunner().invoke(main, ["presegment-eval", "-l", "zh_Hans", "--vocab-size", "400", "--json"])
    assert r.exit_code == 0, r.output
    plain, pre = json.loads(r.output)
    assert pre["recall"] == 1.0 and pre["pure_percent"] == 100.0  # cut at jieba's words, scored by jieba
    assert plain["recall"] < 1.0
