"""Issue 14, findings 1, 3 (ids) and 7: every reader validates before use; small JSON errors are one line.

Each test builds the damaged file the issue describes and checks the load is refused with a
FormatError naming the file and the field (it used to load and give other text, or crash).
"""

from __future__ import annotations

import base64
import json
import os

import pytest
from click.testing import CliRunner

from tokenlab.cli import main
from tokenlab.errors import FormatError
from tokenlab.io import load_tokenizer, read_sentencepiece, read_tekken

from reliability_util import dump, metaspace_json, small_tokenizer, tekken_json, tiktoken_text, tokenlab_json


def _refused(path, *fragments):
    with pytest.raises(FormatError) as info:
        load_tokenizer(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    for f in fragments:
        assert f in message, message
    return message


def _cli(*args):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


# ------------------------------------------------------------------ tokenlab json
@pytest.mark.parametrize("bad_id", [-1744, -1, 2**63, 2**64 + 5, 10**9, "97", 97.0, True, None])
def test_tokenlab_json_bad_vocab_id_is_refused(tmp_path, bad_id):
    d = tokenlab_json()
    d["vocab"][50][1] = bad_id
    _refused(dump(tmp_path / "t.json", d), "vocab")


def test_negative_id_no_longer_aliases_another_token(tmp_path):
    d = tokenlab_json()
    d["vocab"][200][1] = -1744  # was: decode 97 256 299 -> 'aSTATE b' with rc 0
    code, out = _cli("decode", "-t", dump(tmp_path / "t.json", d), "97", "104")
    assert code == 1 and out.startswith("error: ") and "vocab" in out and out.count("\n") == 1


def test_tokenlab_json_duplicate_ids_and_special_clashes(tmp_path):
    d = tokenlab_json()
    d["vocab"][5][1] = d["vocab"][6][1]
    _refused(dump(tmp_path / "a.json", d), "vocab", "id 6")
    d = tokenlab_json()
    d["special_tokens"] = {"<a>": 260, "<b>": 300}  # 260 is a merged token's id
    _refused(dump(tmp_path / "b.json", d), "special_tokens")
    d = tokenlab_json()
    d["special_tokens"] = {"<a>": 400, "<b>": 400}
    _refused(dump(tmp_path / "c.json", d), "special_tokens", "share")
    d = tokenlab_json()
    d["special_tokens"] = {"": 400}
    _refused(dump(tmp_path / "d.json", d), "special_tokens")


@pytest.mark.parametrize("field,value", [
    ("special_tokens", ["<|endoftext|>"]), ("pretokenizer", "gpt2"), ("version", "x"), ("version", None),
    ("vocab", {"a": 1}), ("merges", [[1]]), ("merges", [[10**6, 1]]), ("ignore_merges", "yes"),
    ("pretokenizer", {"pattern": 5}), ("pretokenizer", {"pattern": "gpt2", "split_digits": "3"}),
])
def test_tokenlab_json_wrong_types_are_one_line_errors(tmp_path, field, value):
    d = tokenlab_json()
    d[field] = value
    _refused(dump(tmp_path / "t.json", d), field)
    code, out = _cli("encode", "-t", str(tmp_path / "t.json"), "hello")
    assert code == 1 and out.startswith("error: ") and out.count("\n") == 1 and "Traceback" not in out


def test_deeply_nested_json_is_an_error_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"format": "tokenlab", "vocab": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _refused(path, "nested")
    code, out = _cli("info", str(path))
    assert code == 1 and out.startswith("error: ") and "nested" in out


def test_id_of_a_billion_is_refused_before_any_table_is_built(tmp_path):
    d = tokenlab_json()
    d["special_tokens"] = {"<|endoftext|>": 10**9}
    _refused(dump(tmp_path / "t.json", d), "special_tokens", "too large")


def test_npy_output_never_sees_negative_ids(tmp_path):
    d = tokenlab_json()
    assert base64.b64decode(d["vocab"][258][0]) == b"hell"
    d["vocab"][258][1] = -1  # used to encode as 4294967295 and crash the npy writer with OverflowError
    code, out = _cli("encode", "-t", dump(tmp_path / "t.json", d), "hell", "--output-format", "npy", "-o",
                     str(tmp_path / "o.npy"))
    assert code == 1 and out.startswith("error: ") and not (tmp_path / "o.npy").exists()


# ------------------------------------------------------------------ HF tokenizer.json
def _hf(tok=None) -> dict:
    from tokenlab.io.hf_json import to_hf_dict

    return to_hf_dict(tok or small_tokenizer())


def test_hf_byte_level_bad_ids(tmp_path):
    d = _hf()
    key = next(iter(d["model"]["vocab"]))
    d["model"]["vocab"][key] = -3
    _refused(dump(tmp_path / "a.json", d), "model.vocab")
    d = _hf()
    keys = list(d["model"]["vocab"])
    d["model"]["vocab"][keys[1]] = d["model"]["vocab"][keys[2]]
    _refused(dump(tmp_path / "b.json", d), "model.vocab")
    d = _hf()
    d["added_tokens"].append(dict(d["added_tokens"][0], content="<|other|>"))
    _refused(dump(tmp_path / "c.json", d), "added_tokens")
    d = _hf()
    d["added_tokens"][0]["id"] = 2**63
    _refused(dump(tmp_path / "d.json", d), "added_tokens")


def test_metaspace_tokenizer_json_is_checked(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    good = metaspace_json()
    ours = load_tokenizer(dump(tmp_path / "good.json", good))
    ref = tokenizers.Tokenizer.from_str(json.dumps(good))
    assert ours.encode("hello a héllo") == ref.encode("hello a héllo").ids
    d = metaspace_json()
    d["model"]["vocab"]["▁hello"] = d["model"]["vocab"]["▁hell"]  # duplicate id: was accepted
    _refused(dump(tmp_path / "a.json", d), "model.vocab", "two tokens")
    d = metaspace_json()
    d["added_tokens"][2]["id"] = 1  # two specials sharing an id: was accepted
    _refused(dump(tmp_path / "b.json", d), "added_tokens", "share")
    d = metaspace_json()
    d["normalizer"]["normalizers"][1]["content"] = 5  # was a TypeError in the normalizer
    _refused(dump(tmp_path / "c.json", d), "content")
    d = metaspace_json()
    d["model"]["vocab"]["b"] = -7
    _refused(dump(tmp_path / "d.json", d), "model.vocab")


# ------------------------------------------------------------------ .tiktoken and tekken
def test_tiktoken_damage_is_reported(tmp_path):
    text = tiktoken_text()
    lines = text.splitlines(keepends=True)
    cut = tmp_path / "cut.tiktoken"  # cut inside a line: the partial rank repeats an earlier one
    cut.write_text(text[: len(text) - 2])
    _refused(cut, "rank")
    gap = tmp_path / "gap.tiktoken"
    gap.write_text("".join(lines[:100] + lines[101:]))
    _refused(gap, "not contiguous", "first: 100")
    neg = tmp_path / "neg.tiktoken"
    neg.write_text(text.replace(" 7\n", " -7\n"))
    _refused(neg, "line 8")
    dup = tmp_path / "dup.tiktoken"
    dup.write_text(text + lines[3].split()[0] + " 999\n")
    _refused(dup, "twice")


@pytest.mark.skipif(os.environ.get("TOKENLAB_TEST_ORIGINAL") == "1", reason="would exhaust memory on old code")
@pytest.mark.parametrize("field", ["default_vocab_size", "default_num_special_tokens"])
def test_tekken_huge_declared_sizes_are_refused_quickly(tmp_path, field):
    good = dump(tmp_path / "good.json", tekken_json())
    assert read_tekken(good).encode("hello the world")
    d = tekken_json()
    d["config"][field] = 10**12  # was: killed by the kernel at 24 GB
    with pytest.raises(FormatError, match=field):
        read_tekken(dump(tmp_path / "bad.json", d))


def test_tekken_bad_entries(tmp_path):
    d = tekken_json()
    d["vocab"][3]["rank"] = -1
    with pytest.raises(FormatError, match=r"vocab\[3\].rank"):
        read_tekken(dump(tmp_path / "a.json", d))
    d = tekken_json()
    d["vocab"][3]["token_bytes"] = d["vocab"][4]["token_bytes"]
    with pytest.raises(FormatError, match="twice"):
        read_tekken(dump(tmp_path / "b.json", d))
    d = tekken_json()
    d["config"]["pattern"] = 3
    with pytest.raises(FormatError, match="config.pattern"):
        read_tekken(dump(tmp_path / "c.json", d))


# ------------------------------------------------------------------ SentencePiece and vocab.txt
def _top_level_ends(data: bytes) -> list[int]:
    from tokenlab.io.sentencepiece import _varint

    ends, i = [], 0
    while i < len(data):
        _, i = _varint(data, i)
        size, i = _varint(data, i)
        i += size
        ends.append(i)
    return ends


def test_sentencepiece_model_cut_at_a_field_boundary_is_refused_like_sentencepiece(tmp_path):
    spm = pytest.importorskip("sentencepiece")
    from conftest import mistral_sentencepiece_models

    models = mistral_sentencepiece_models()
    if not models:
        pytest.skip("mistral-common not installed")
    data = open(models[0], "rb").read()
    ends = _top_level_ends(data)
    for cut in (ends[2], ends[len(ends) // 2], ends[-3]):  # before the trainer spec: all pieces or some
        path = tmp_path / "cut.model"
        path.write_bytes(data[:cut])
        with pytest.raises(RuntimeError):
            spm.SentencePieceProcessor(model_proto=data[:cut])
        with pytest.raises(FormatError, match="byte_fallback|no normal pieces"):
            read_sentencepiece(path)
    path.write_bytes(data[: ends[-1]])  # the whole model still loads
    assert read_sentencepiece(path).encode_ordinary("hello") == spm.SentencePieceProcessor(
        model_proto=data).encode("hello")


def test_wordpiece_vocab_txt_duplicates_are_refused(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\nhello\nworld\nhello\n##s\n")
    _refused(path, "line 5", "line 3")


# ------------------------------------------------------------------ CLI one-line errors
def test_click_usage_errors_are_one_error_line(tmp_path):
    for args in (["encode", "--bogus"], ["--bogus"], ["bogus"], ["train", "x", "-o", "y", "--vocab-size", "5"]):
        code, out = _cli(*args)
        assert code == 2 and out.startswith("error: ") and out.count("\n") == 1, (args, out)


def test_empty_special_token_is_refused(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\n")
    code, out = _cli("train", str(corpus), "-o", str(tmp_path / "t.json"), "--special", "", "--no-progress")
    assert code == 2 and out.startswith("error: ") and "--special" in out
    assert not os.path.exists(tmp_path / "t.json")


@pytest.mark.skipif(os.environ.get("TOKENLAB_TEST_ORIGINAL") == "1", reason="would exhaust memory on old code")
def test_huge_vocab_size_trains_only_what_the_corpus_allows(tmp_path):
    from tokenlab.errors import InvalidInputError
    from tokenlab.train.bpe import train_bpe

    tok = train_bpe(["hello world hello"], vocab_size=10**9, workers=1)  # was: killed at 24 GB
    small = train_bpe(["hello world hello"], vocab_size=300, workers=1)
    assert tok.merges == small.merges
    with pytest.raises(InvalidInputError, match="too large"):
        train_bpe(["hello"], vocab_size=10**12, workers=1)


def test_valid_files_still_load(tmp_path):
    tok = small_tokenizer()
    path = tmp_path / "t.json"
    tok.save(path)
    assert load_tokenizer(path).encode("hello the world") == tok.encode("hello the world")
    tk = tmp_path / "t.tiktoken"
    tk.write_text(tiktoken_text())
    assert load_tokenizer(tk).encode_ordinary("hello") == tok.encode_ordinary("hello")
