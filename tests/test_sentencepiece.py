"""SentencePiece .model files: ids and decode equal the sentencepiece library's (and mistral-common's).

References: the five SentencePiece models shipped in mistral-common (BPE, byte fallback, identity
normalizer) and small models trained here by sentencepiece itself, covering Unigram and BPE, the
default nmt_nfkc and nfkc_cf character maps, user-defined symbols, no byte fallback (unknown runs),
whitespace as suffix, no dummy prefix and kept extra spaces.
"""

from __future__ import annotations

import io
import os
import struct

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenlab.cli import main
from tokenlab.errors import FormatError, InvalidInputError, SpecialTokenError
from tokenlab.io import detect_format, load_tokenizer, save_tokenizer
from tokenlab.io.sentencepiece import parse_sentencepiece, read_sentencepiece
from tokenlab.models.sentencepiece import SentencePieceTokenizer

from conftest import MISTRAL_MISSING, check_healing_reaches_original, mistral_params, mistral_sentencepiece_models

spm = pytest.importorskip("sentencepiece")

EDGE_TEXTS = ["", " ", "   ", "  a  b  ", "▁", "x▁", " ▁ a ▁", "a b", "xa bx <x>▁", "\t\nx\r\n", "é🤖",
              "Hello  world", "ﬁ ｆｕｌｌ ① ＡＢＣ ㍻ ｶﾞ",
              " \u3000 x\u00a0y ", "<sep>a<sep>", "x <sep> y<cls>", "<s> </s> <unk> [INST]", "\x00\x01", "▁ ▁▁x",
              "Ǆ ǅ ǆ İ ß ẞ", "a" * 3000, "😀" * 50 + " " * 50]


MISTRAL = mistral_sentencepiece_models()


@pytest.fixture(scope="module")
def texts(real_docs):
    docs, size = [], 0
    for doc in real_docs:  # ~150 KB of code and prose, then the 25-language lines
        if size > 150_000:
            break
        docs.append(doc)
        size += len(doc)
    docs += real_docs[-120:]
    assert any(not d.isascii() for d in docs)
    return docs + EDGE_TEXTS


def _assert_same(ours: SentencePieceTokenizer, ref, texts):
    for text in texts:
        ids = ours.encode_ordinary(text)
        want = ref.encode(text)
        assert ids == want, (text[:80], ours.pieces_of(ids[:40]), ref.id_to_piece(want[:40]))
        assert ours.decode(ids) == ref.decode(want), text[:80]


# ---- mistral-common's SentencePiece models ----

def test_mistral_common_ships_sentencepiece_models():
    pytest.importorskip("mistral_common")
    assert len(MISTRAL) >= 5


@pytest.mark.parametrize("path", mistral_params(MISTRAL), ids=lambda p: os.path.basename(p or "none"))
def test_mistral_models_equal_sentencepiece(path, texts):
    ours = load_tokenizer(path)
    assert isinstance(ours, SentencePieceTokenizer) and detect_format(path) == "sentencepiece"
    ref = spm.SentencePieceProcessor(model_file=path)
    assert ours.model_type == "bpe" and ours.byte_fallback and ours.n_vocab == ref.get_piece_size()
    assert ours._boundary is not None  # words are cached: no piece spans a word start
    _assert_same(ours, ref, texts)


def test_mistral_common_tokenizer_agrees(texts):
    if not MISTRAL:
        pytest.skip(MISTRAL_MISSING)
    from mistral_common.tokens.tokenizers.sentencepiece import SentencePieceTokenizer as MistralSP

    path = next(p for p in MISTRAL if p.endswith(".v3"))
    ref = MistralSP(path)
    ours = read_sentencepiece(path)
    for text in texts[:40]:
        assert ref.encode(text, bos=True, eos=True) == [ours.special_tokens["<s>"], *ours.encode_ordinary(text),
                                                        ours.special_tokens["</s>"]]
    # control pieces are special tokens with tokenlab's contract, with mistral-common's ids
    assert ours.encode("[INST] hi [/INST]", allowed_special="all")[0] == ref.get_special_token("[INST]")
    assert ours.special_tokens["[/INST]"] == ref.get_special_token("[/INST]")
    assert ours.n_vocab == ref.n_words
    with pytest.raises(SpecialTokenError):
        ours.encode("[INST] hi")
    assert ours.encode("[INST]", disallowed_special=()) == ref.encode("[INST]", bos=False, eos=False)


# ---- models trained here by sentencepiece ----

CONFIGS = {
    "bpe-nmt_nfkc": {"model_type": "bpe"},
    "unigram-nmt_nfkc": {"model_type": "unigram"},
    "bpe-bytes-user": {"model_type": "bpe", "byte_fallback": True, "user_defined_symbols": ["<sep>", "<cls>"]},
    "unigram-bytes-user": {"model_type": "unigram", "byte_fallback": True, "user_defined_symbols": ["<sep>", "<cls>"]},
    "bpe-identity-raw": {"model_type": "bpe", "normalization_rule_name": "identity", "add_dummy_prefix": False,
                         "remove_extra_whitespaces": False},
    "unigram-suffix": {"model_type": "unigram", "treat_whitespace_as_suffix": True},
    "bpe-suffix-no-split": {"model_type": "bpe", "treat_whitespace_as_suffix": True, "split_by_whitespace": False},
    "unigram-nfkc_cf": {"model_type": "unigram", "normalization_rule_name": "nfkc_cf"},
    "unigram-nfkc-user-space": {"model_type": "unigram", "normalization_rule_name": "nfkc",
                                "user_defined_symbols": ["a▁b", "<x>"]},
}


def _train(lines, **config) -> bytes:
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, vocab_size=1000,
                                   character_coverage=0.995, minloglevel=2, num_threads=1, **config)
    return buf.getvalue()


@pytest.fixture(scope="module")
def train_lines(real_docs):
    lines = [line for doc in real_docs[-400:] for line in doc.split("\n") if line.strip()]
    return lines[:2500] + lines[-500:]  # Python docs prose, then the 25 languages


class _Models(dict):
    def __repr__(self) -> str:  # hypothesis prints fixtures of failing examples
        return f"<{len(self)} sentencepiece models>"


@pytest.fixture(scope="module")
def trained(train_lines):
    return _Models({name: _train(train_lines, **config) for name, config in CONFIGS.items()})


@pytest.mark.parametrize("name", list(CONFIGS))
def test_trained_models_equal_sentencepiece(name, trained, texts):
    data = trained[name]
    ours = parse_sentencepiece(data)
    ref = spm.SentencePieceProcessor(model_proto=data)
    assert ours.model_type == CONFIGS[name]["model_type"]
    _assert_same(ours, ref, texts)


def test_word_cache_is_used_only_when_safe(trained):
    cached = {name: parse_sentencepiece(data)._boundary is not None for name, data in trained.items()}
    assert cached["bpe-nmt_nfkc"] and not cached["bpe-suffix-no-split"]  # that one has pieces like "a▁b"
    assert not any(cached[n] for n in CONFIGS if n.startswith("unigram"))


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
       | st.lists(st.sampled_from(["a", "b", "é", " ", "  ", "ﬁ", "<sep>", "<x>", "\u3000", "😀", "\n", "x▁", "İ",
                                  "▁"]), max_size=20).map("".join))
def test_random_text_equals_sentencepiece(trained, text):
    for name in ("unigram-nmt_nfkc", "bpe-bytes-user", "bpe-identity-raw", "bpe-suffix-no-split",
                 "unigram-nfkc-user-space"):
        data = trained[name]
        ours = _parsed(data)
        ref = _processor(data)
        assert ours.encode_ordinary(text) == ref.encode(text), name
        assert ours.decode(ours.encode_ordinary(text)) == ref.decode(ref.encode(text)), name
    if MISTRAL:
        ours, ref = _parsed_path(MISTRAL[-1]), _processor_path(MISTRAL[-1])
        assert ours.encode_ordinary(text) == ref.encode(text)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_trained_models_with_unused_pieces_equal_sentencepiece(name, trained, texts):
    """As a vocabulary restriction leaves a model: a seeded sixth of the normal pieces, single characters among
    them, marked unused. sentencepiece's BPE splits an unused piece back into the two it was joined from (an unused
    character is unknown: <unk> or its bytes); Unigram leaves unused pieces out. Both tokenlab paths must agree."""
    import random

    pb = pytest.importorskip("sentencepiece.sentencepiece_model_pb2")
    from tokenlab.models.sentencepiece import NORMAL, UNUSED

    proto = pb.ModelProto.FromString(trained[name])
    rng = random.Random(name)
    normal = [p for p in proto.pieces if p.type == NORMAL]
    singles = [p for p in normal if len(p.piece) == 1]
    for p in rng.sample(normal, len(normal) // 6) + rng.sample(singles, min(8, len(singles))):
        p.type = UNUSED
    data = proto.SerializeToString()
    ours, ref = parse_sentencepiece(data), spm.SentencePieceProcessor(model_proto=data)
    sample = [text for k, text in enumerate(texts) if k % 5 == 0 or len(text) < 200]
    _assert_same(ours, ref, sample)
    for text in sample[:60]:
        assert ours._encode_python(text) == ref.encode(text), text[:80]


_CACHE: dict = {}


def _cached(key, make):
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def _parsed(data):
    return _cached(("ours", data), lambda: parse_sentencepiece(data))


def _processor(data):
    return _cached(("ref", data), lambda: spm.SentencePieceProcessor(model_proto=data))


def _parsed_path(path):
    return _cached(("ours", path), lambda: read_sentencepiece(path))


def _processor_path(path):
    return _cached(("ref", path), lambda: spm.SentencePieceProcessor(model_file=path))


# ---- tokenlab views, files, errors ----

def test_bytes_view_and_json_round_trip(trained, tmp_path, texts):
    ours = parse_sentencepiece(trained["bpe-bytes-user"])
    ids = ours.encode_ordinary("Hello wörld")
    # token bytes show "▁" as a space and byte pieces as bytes; they spell the normalized text
    assert b"".join(ours.token_bytes(i) for i in ids) == ours.normalize("Hello wörld").replace("▁", " ").encode()
    assert ours.vocab[b" "] == ours.piece_to_id["▁"]
    path = tmp_path / "sp.json"
    save_tokenizer(ours, path)
    again = load_tokenizer(path)
    assert isinstance(again, SentencePieceTokenizer) and again.to_dict() == ours.to_dict()
    for text in texts[:30]:
        assert again.encode_ordinary(text) == ours.encode_ordinary(text)
    with pytest.raises(FormatError):
        save_tokenizer(ours, tmp_path / "x.json", format="hf")


def test_corrupt_models_are_clear_errors(trained, tmp_path):
    data = trained["bpe-nmt_nfkc"]
    for bad, message in ((data[:len(data) // 2], "truncated"), (b"\x0a\x05\x0a\x03abc\x99", "truncated"),
                         (b"\x0a\x04\x0a\x02\xff\xfe", "not UTF-8"),
                         (b"\x0a\x05\x0a\x01a\x18\x01", "no unknown piece"), (b"\x0a\x04\x0a\x00\x18\x02", "empty")):
        path = tmp_path / "bad.model"
        path.write_bytes(bad)
        with pytest.raises(FormatError, match=message):
            read_sentencepiece(path)
    with pytest.raises(FormatError, match="no such file"):
        read_sentencepiece(tmp_path / "missing.model")
    ours = parse_sentencepiece(data)
    with pytest.raises(InvalidInputError):
        ours.encode_ordinary("bad \ud800")
    with pytest.raises(InvalidInputError):
        ours.decode([10 ** 6])


def test_cli_reads_model_files(trained, tmp_path):
    path = tmp_path / "m.model"
    path.write_bytes(trained["unigram-nmt_nfkc"])
    ref = spm.SentencePieceProcessor(model_file=str(path))
    result = CliRunner().invoke(main, ["encode", "-t", str(path), "Hello,  ｗorld"])
    assert result.exit_code == 0, result.output
    assert list(map(int, result.output.split())) == ref.encode("Hello,  ｗorld")
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 0 and "sentencepiece" in result.output
    (tmp_path / "bad.model").write_bytes(trained["unigram-nmt_nfkc"][:100])
    result = CliRunner().invoke(main, ["info", str(tmp_path / "bad.model")])
    assert result.exit_code != 0 and "error:" in result.output and "Traceback" not in result.output


# ---- evaluation and transfer tools on sentencepiece models ----

def test_unreachable_tokens_agree_with_sentencepiece():
    if not MISTRAL:
        pytest.skip(MISTRAL_MISSING)
    from tokenlab.evaluate.health import unreachable_tokens

    path = MISTRAL[-1]
    tok, ref = _parsed_path(path), _processor_path(path)
    word_pieces = [i for p, i in tok.piece_to_id.items() if p.startswith("▁")][::5]
    unreachable = set(unreachable_tokens(tok, ids=word_pieces))
    # a word piece alone is the text after the dummy "▁": sentencepiece says whether it comes back whole
    want = {i for i in word_pieces if ref.encode(tok.pieces[i][0][1:].replace("▁", " ")) != [i]}
    assert unreachable == want
    assert len(word_pieces) > 3000


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, payload) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    if isinstance(payload, float):
        return _varint(number << 3 | 5) + struct.pack("<f", payload)
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _model_proto(pieces, model_type: int) -> bytes:
    """A ModelProto written by hand (no protobuf): the pieces, a trainer spec and an identity normalizer."""
    out = b"".join(_field(1, _field(1, p) + _field(2, score) + _field(3, kind)) for p, score, kind in pieces)
    out += _field(2, _field(3, model_type) + _field(40, 0) + _field(41, -1) + _field(42, -1))
    return out + _field(3, _field(1, "identity") + _field(3, 1) + _field(4, 0) + _field(5, 1))


@pytest.mark.parametrize("model_type", [1, 2], ids=["unigram", "bpe"])
def test_unreachable_piece_of_a_hand_written_model(model_type):
    """Unigram never picks "abc" (its split scores higher); BPE never builds "bcd" (no pair joins into it)."""
    from tokenlab.evaluate.health import unreachable_tokens

    pieces = [("<unk>", 0.0, 2), ("▁", -1.0, 1), ("a", -1.0, 1), ("b", -1.0, 1), ("c", -1.0, 1), ("ab", -1.5, 1),
              ("▁ab", -1.2, 1), ("abc", -9.0, 1), ("bcd", -0.1, 1)]
    data = _model_proto(pieces, model_type)
    ref = spm.SentencePieceProcessor(model_proto=data)
    ours = parse_sentencepiece(data)
    for text in ("abc", "ab c", "cab abc", "xabc", "bcd", "abcd", "dd", ""):
        assert ours.encode_ordinary(text) == ref.encode(text)
    unreachable = {ours.pieces[i][0] for i in unreachable_tokens(ours)}
    assert unreachable == ({"abc"} if model_type == 1 else {"bcd"})
    for piece, i in ours.piece_to_id.items():  # sentencepiece agrees: after an unknown "x" nothing joins across
        if piece == "▁":
            continue  # alone it is only ever the dummy prefix
        alone = ref.encode(piece[1:]) if piece.startswith("▁") else ref.encode("x" + piece)[2:]
        assert (alone == [i]) == (piece not in unreachable), piece


def test_healing_keeps_a_prefix_of_the_full_encoding(texts):
    import random

    from tokenlab.transfer.healing import heal_prompt

    if not MISTRAL:
        pytest.skip(MISTRAL_MISSING)
    tok = _parsed_path(MISTRAL[-1])
    text = "".join(texts[-120:]).replace("▁", "_") + " url: https://example.com/a_b  x\n\n  y " * 20  # no literal "▁"
    check_healing_reaches_original(tok, text, random.Random(0), 300, spelled_prefix=" ")  # the dummy "▁"
    plan = heal_prompt(tok, "The quick brown fo")
    assert plan.removed == b" fo" and tok.decode(plan.prompt_ids) == "The quick brown"


def test_compare_short_name_and_metrics():
    if not MISTRAL:
        pytest.skip(MISTRAL_MISSING)
    from tokenlab.evaluate.metrics import compression
    from tokenlab.evaluate.report import reference_tokenizer

    tok = reference_tokenizer("mistral-sp")
    assert isinstance(tok, SentencePieceTokenizer) and tok.name == "mistral-sp"
    ref = _processor_path(next(p for p in MISTRAL if p.endswith(".v3")))
    text = "Tokenizers split text — Токенизаторы 分词器 🤖"
    assert compression(tok, [text])["tokens"] == len(ref.encode(text))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_corrupt_model_bytes_give_format_errors_only(trained, data):
    """Truncations and byte flips of a real model either still parse or raise FormatError, nothing else."""
    model = trained["unigram-bytes-user"]
    cut = data.draw(st.integers(0, len(model)))
    region = data.draw(st.sampled_from([len(model), 30_000, 400]))  # whole file, the pieces, the first pieces
    flips = data.draw(st.lists(st.tuples(st.integers(0, min(region, len(model)) - 1), st.integers(0, 255)),
                               max_size=4))
    corrupt = bytearray(model[:cut] if data.draw(st.booleans()) else model)
    for position, value in flips:
        if position < len(corrupt):
            corrupt[position] = value
    try:
        tok = parse_sentencepiece(bytes(corrupt))
    except FormatError:
        return
    tok.encode_ordinary("Hello wörld ﬁ 🤖")  # a model that parsed must also encode
