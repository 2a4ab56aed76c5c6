"""The byte tokenizer against the PyPI utf8-tokenizer (ids, batches, chat template, visualisation)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenlab.byte_tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    ByteTokenizer,
    ControlByte,
    visualize_control_bytes,
)
from tokenlab.cli import main
from tokenlab.errors import InvalidInputError

TOK = ByteTokenizer()


@pytest.fixture(scope="module")
def ref():
    pytest.importorskip("utf8_tokenizer")
    from utf8_tokenizer import UTF8Tokenizer

    return UTF8Tokenizer()


@pytest.fixture(scope="module")
def real_lines(real_docs):
    lines = "".join(real_docs).split("\n")
    assert any(not line.isascii() for line in lines)
    return lines


def _ref_batch(ref, texts, **kw):
    out = ref.torch(texts, padding=True, **kw)
    return out.input_ids.numpy().astype(np.uint8), out.attention_mask.numpy()


# ---- ids ----

def test_control_byte_values_match_reference():
    from utf8_tokenizer.control import ControlTokens
    from utf8_tokenizer.tokenizer import BOS_TOKEN_ID, EOS_TOKEN_ID, PAD_TOKEN_ID

    assert (PAD_ID, BOS_ID, EOS_ID) == (PAD_TOKEN_ID, BOS_TOKEN_ID, EOS_TOKEN_ID) == (0, 2, 3)
    assert ControlByte.MESSAGE_START == ord(ControlTokens.StartOfHeading)
    assert ControlByte.MESSAGE_END == ord(ControlTokens.EndOfTransmissionBlock)
    assert ControlByte.ATTENTION_START == ord(ControlTokens.ShiftOut)
    assert ControlByte.TOOL_CALL_START == ord(ControlTokens.Substitute)
    assert ControlByte.TOOL_CALL_END == ord(ControlTokens.Escape)
    assert max(ControlByte) < 0x20


def test_encode_equals_reference_on_real_text(ref, real_docs):
    docs = real_docs[:40] + real_docs[-30:]  # stdlib code + 25 languages with emoji
    assert any(not d.isascii() for d in docs)
    for doc in docs:
        ids = TOK.encode(doc)
        assert ids == ref.encode(doc)
        assert TOK.encode(doc, add_special_tokens=False) == ref.encode(doc, add_special_tokens=False)
        assert max(ids) <= 255
    assert TOK.encode("héllo 🤖") == [2, 104, 195, 169, 108, 108, 111, 32, 240, 159, 164, 150, 3]  # by hand


def test_encode_options(ref):
    text = "naïve 日本 🤖"
    assert TOK.encode(text, bos=False) == list(text.encode()) + [3]
    assert TOK.encode(text, eos=False) == [2] + list(text.encode())
    arr = TOK.encode(text, as_array=True)
    assert arr.dtype == np.uint8 and arr.flags.writeable and arr.tolist() == ref.encode(text)
    for max_length in (2, 3, 4, 8, 100):
        assert TOK.encode(text, max_length=max_length) == ref.encode(text, truncation=True, max_length=max_length)
        assert (TOK.encode(text, add_special_tokens=False, max_length=max_length)
                == ref.encode(text, add_special_tokens=False, truncation=True, max_length=max_length))


def test_decode_matches_reference(ref, real_docs):
    for doc in real_docs[-26:]:
        ids = TOK.encode(doc)
        assert TOK.decode(ids, skip_special_tokens=True) == ref.decode(ids, skip_special_tokens=True) == doc
        assert TOK.decode(np.asarray(ids, dtype=np.uint8)) == "\x02" + doc + "\x03"
    cut = list("é".encode())[:1]
    assert TOK.decode(cut) == "\ufffd"
    assert TOK.decode(cut, errors="ignore") == ""
    with pytest.raises(InvalidInputError):
        TOK.decode(cut, errors="strict")


# ---- batches ----

@pytest.mark.parametrize("add_special", [True, False])
def test_batch_equals_reference_on_real_lines(ref, real_lines, add_special):
    lines = real_lines[:6000] + real_lines[-300:]
    for start in range(0, len(lines), 700):
        batch = lines[start:start + 700]
        ids, mask = TOK.encode_batch(batch, add_special)
        ref_ids, ref_mask = _ref_batch(ref, batch, add_special_tokens=add_special)
        assert ids.dtype == np.uint8 and mask.dtype == bool
        assert np.array_equal(ids, ref_ids)
        assert np.array_equal(mask, ref_mask)


@pytest.mark.parametrize("max_length", [1, 2, 3, 7, 40])
@pytest.mark.parametrize("add_special", [True, False])
def test_batch_truncation_equals_reference(ref, real_lines, max_length, add_special):
    if add_special and max_length < 2:
        with pytest.raises(InvalidInputError):
            TOK.encode_batch(["abc"], add_special, max_length=max_length)
        return
    batch = real_lines[:300] + real_lines[-60:] + ["", "é" * 30, "🤖🤖🤖"]
    ids, mask = TOK.encode_batch(batch, add_special, max_length=max_length)
    ref_ids, ref_mask = _ref_batch(ref, batch, add_special_tokens=add_special, truncation=True,
                                   max_length=max_length)
    assert np.array_equal(ids, ref_ids)
    assert np.array_equal(mask, ref_mask)
    assert ids.shape[1] <= max_length


def test_texts_containing_bos_use_the_fallback_path(ref):
    for batch in (["a\x02b", "c", "\x02\x02"], ["ü\x02ß", "🤖", "x\x02\x03y", ""]):
        ids, mask = TOK.encode_batch(batch)
        ref_ids, ref_mask = _ref_batch(ref, batch)
        assert np.array_equal(ids, ref_ids) and np.array_equal(mask, ref_mask)


def test_left_padding_and_max_length_padding():
    texts = ["ab", "", "héllo"]
    ids, mask = TOK.encode_batch(texts, padding_side="left")
    assert ids.tolist() == [[0, 0, 0, 0, 2, 97, 98, 3],
                            [0, 0, 0, 0, 0, 0, 2, 3],
                            [2, 104, 195, 169, 108, 108, 111, 3]]
    assert mask.tolist() == (ids != 0).tolist()
    ids, mask = TOK.encode_batch(texts, max_length=5, padding_side="left")
    assert ids.tolist() == [[0, 2, 97, 98, 3], [0, 0, 0, 2, 3], [2, 104, 195, 169, 3]]
    ids, mask = TOK.encode_batch(texts, max_length=6, padding="max_length")
    assert ids.shape == (3, 6)
    assert ids.tolist()[0] == [2, 97, 98, 3, 0, 0]
    assert mask.sum(axis=1).tolist() == [4, 2, 6]
    ids, mask = TOK.encode_batch([])
    assert ids.shape == (0, 0) and mask.shape == (0, 0)
    ids, mask = TOK.encode_batch(["", ""], add_special_tokens=False)
    assert ids.shape == (2, 0)


def test_nul_inside_text_is_masked_in(ref):
    """Documented difference: the reference's mask is ids != 0, so it masks out a real NUL byte."""
    ids, mask = TOK.encode_batch(["a\x00b", "cd"])
    ref_ids, ref_mask = _ref_batch(ref, ["a\x00b", "cd"])
    assert np.array_equal(ids, ref_ids)
    assert mask[0].tolist() == [True] * 5 and not ref_mask[0, 2]


# ---- chat template ----

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather now",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "description": "°C or °F"}}}}}]

CHATS = [
    [{"role": "system", "content": "You are a helpful assistant."},
     {"role": "user", "content": "Hey, what's 1+1?"},
     {"role": "assistant", "content": "1+1 is 2."}],
    [{"role": "user", "content": "Wetter in Zürich? 🌦"},
     {"role": "assistant", "content": "", "tool_calls": [
         {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "unit": "°C"}}},
         {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Bern"}'}}]},
     {"role": "tool", "content": "12°C, rain"},
     {"role": "assistant", "content": "Es regnet, 12°C."}],
    [{"role": "user", "content": "multi\nline\ttext 日本語"}, {"role": "user", "content": None}],
]


@pytest.mark.parametrize("chat", range(len(CHATS)))
@pytest.mark.parametrize("generation_prompt", [False, True])
@pytest.mark.parametrize("with_tools", [False, True])
def test_chat_template_bytes_equal_reference(ref, chat, generation_prompt, with_tools):
    tools = TOOLS if with_tools else None
    ours = TOK.apply_chat_template(CHATS[chat], tools=tools, add_generation_prompt=generation_prompt)
    theirs = ref.apply_chat_template(CHATS[chat], tools=tools, tokenize=False,
                                     add_generation_prompt=generation_prompt)
    assert ours.encode() == theirs.encode()
    assert TOK.encode_chat(CHATS[chat], tools, generation_prompt) == list(theirs.encode())


def test_chat_template_by_hand_and_thinking():
    chat = [{"role": "user", "content": "hi"},
            {"role": "assistant", "content": "yo", "thinking": "greet back"}]
    assert TOK.apply_chat_template(chat) == (
        "\x01user\n\x0ehi\x0f\x17\n"
        "\x01assistant\n\x12greet back\x13yo\x17\n")


def test_chat_template_bad_input():
    for bad in ("text", [{"content": "no role"}], [{"role": 3, "content": "x"}],
                [{"role": "user", "content": ["list"]}],
                [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}]):
        with pytest.raises(InvalidInputError):
            TOK.apply_chat_template(bad)
    with pytest.raises(InvalidInputError):
        TOK.apply_chat_template([{"role": "user", "content": "x"}], tools=[{"function": {"parameters": {}}}])
    with pytest.raises(InvalidInputError):
        TOK.apply_chat_template([], tools=[{"function": {"name": "f", "parameters": {"properties": {"a": {}}}}}])
    # a tool without parameters: no argument lines
    assert TOK.apply_chat_template([], tools=[{"function": {"name": "now"}}]) == "\x11\x0enow\n\x0f"


# ---- control bytes ----

def test_visualisation_equals_reference():
    from utf8_tokenizer.control import visualize_control_tokens

    text = "".join(map(chr, range(128))) + "é🤖"
    for whitespace in (False, True):
        assert visualize_control_bytes(text, whitespace) == visualize_control_tokens(text, whitespace)
    assert visualize_control_bytes([2, 104, 105, 3]) == "\u2402hi\u2403"


def test_control_bytes_in_user_text():
    text = "a\x02b\x17c\td\n"
    assert TOK.encode(text, add_special_tokens=False) == list(text.encode())  # keep: like the reference
    with pytest.raises(InvalidInputError, match="0x02"):
        TOK.encode(text, on_control="error")
    assert TOK.encode(text, add_special_tokens=False, on_control="picture") == list("a\u2402b\u2417c\td\n".encode())
    strict = ByteTokenizer(on_control="error")
    with pytest.raises(InvalidInputError, match="text 1"):
        strict.encode_batch(["fine", "bad\x01"])
    clean = ["fine", "also fine\twith tab\n", "ü 🤖", ""]
    for policy in ("error", "picture"):
        ids, mask = ByteTokenizer(on_control=policy).encode_batch(clean)
        assert np.array_equal(ids, TOK.encode_batch(clean)[0]) and np.array_equal(mask, TOK.encode_batch(clean)[1])
    ids, _ = ByteTokenizer(on_control="picture").encode_batch(["x\x03", "ok"])
    assert TOK.decode(ids[0], skip_special_tokens=True) == "x\u2403"
    with pytest.raises(InvalidInputError):
        strict.apply_chat_template([{"role": "user", "content": "\x17 injected"}])
    assert "\u2417" in TOK.apply_chat_template([{"role": "user", "content": "\x17"}], on_control="picture")


# ---- properties ----

@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(), max_size=8))
def test_round_trip_and_batch_rows_equal_single_encodes(texts):
    for text in texts:
        assert TOK.decode(TOK.encode(text), skip_special_tokens="\x00" not in text and "\x02" not in text
                          and "\x03" not in text) in (text, "\x02" + text + "\x03")
        assert TOK.decode(TOK.encode(text, add_special_tokens=False), errors="strict") == text
    for add_special in (True, False):
        for side in ("right", "left"):
            for max_length in (None, 2, 5):
                ids, mask = TOK.encode_batch(texts, add_special, padding_side=side, max_length=max_length)
                assert ids.shape[0] == len(texts)
                for row, m, text in zip(ids, mask, texts):
                    assert row[m].tolist() == TOK.encode(text, add_special, max_length=max_length)
                    assert not row[~m].any()
                    assert m.tolist() == sorted(m.tolist(), reverse=side == "right")  # one contiguous run


_JOINED = ByteTokenizer()
_JOINED._native = False  # the numpy path (join + encode + strided gathers), used where numba is absent

_TEXTS = st.lists(st.text(st.characters(codec="utf-8")) | st.sampled_from(["", "\x02", "a\x03\x02b", "\x00", "é🤖"]),
                  max_size=9)


@settings(max_examples=150, deadline=None)
@given(_TEXTS, st.sampled_from([None, 2, 3, 9]), st.sampled_from(["longest", "max_length"]),
       st.booleans(), st.booleans(), st.sampled_from(["keep", "picture"]))
def test_native_batch_equals_numpy_batch(texts, max_length, padding, add_special, left, on_control):
    """Both batch paths give the same arrays for every option; the real-text reference tests cover ids."""
    if padding == "max_length" and max_length is None:
        max_length = 12
    kw = {"max_length": max_length, "padding": padding, "padding_side": "left" if left else "right",
          "on_control": on_control}
    ids, mask = TOK.encode_batch(texts, add_special, **kw)
    want_ids, want_mask = _JOINED.encode_batch(texts, add_special, **kw)
    assert ids.dtype == want_ids.dtype and mask.dtype == want_mask.dtype
    assert np.array_equal(ids, want_ids) and np.array_equal(mask, want_mask)


def test_native_path_is_the_default_with_numba(monkeypatch):
    pytest.importorskip("numba")
    from tokenlab import _byte_batch, byte_tokenizer

    def joined_path(*args):
        raise AssertionError("the numpy path ran")

    monkeypatch.setattr(byte_tokenizer, "_encode_batch_joined", joined_path)
    assert ByteTokenizer().encode_batch(["a"])[0].tolist() == [[2, 97, 3]]
    ids, _, failed, control = _byte_batch.fill_padded(["héllo", "a\x01"], 2, None, None, False, None)
    assert ids.tolist()[0] == [2, 104, 195, 169, 108, 108, 111, 3] and failed == control == -1
    assert _byte_batch.fill_padded(["ok", "\udc80", 5], 2, None, None, False, None)[2] == 1
    assert _byte_batch.fill_padded(["ok", 5], 0, None, None, False, None)[2] == 1
    is_control = np.zeros(256, bool)
    is_control[1] = True
    assert _byte_batch.fill_padded(["ok", "a\x01"], 2, None, None, False, is_control)[3] == 1


def test_native_batch_odd_lists():
    """Same object many times, str subclasses, tuples, a 1 MB line and a cached-UTF-8 string."""

    class Label(str):
        pass

    shared = "é" * 3
    long_line = "ab🤖" * 150_000
    for texts in ([shared] * 50, [Label("x"), Label("héllo")], ("a", "b"), [long_line, ""], [shared, Label(shared)]):
        ids, mask = TOK.encode_batch(texts)
        want_ids, want_mask = _JOINED.encode_batch(list(texts))
        assert np.array_equal(ids, want_ids) and np.array_equal(mask, want_mask)
    assert TOK.decode(TOK.encode_batch([long_line])[0][0], skip_special_tokens=True) == long_line


@pytest.mark.parametrize("tok", [TOK, _JOINED], ids=["native", "numpy"])
def test_batch_errors_name_the_text(tok):
    with pytest.raises(InvalidInputError, match="text 1 is int, not str"):
        tok.encode_batch(["ok", 3, "\udc80"])
    with pytest.raises(InvalidInputError, match="text 2 cannot be encoded as UTF-8"):
        tok.encode_batch(("ok", "fine", "\udc80"))
    with pytest.raises(InvalidInputError, match="text 1 contains control byte 0x03"):
        tok.encode_batch(["ok", "x\x03", "\x01"], on_control="error")
    ids, _ = tok.encode_batch(["ok", "x\x03", 3.5][:2], on_control="picture")
    assert TOK.decode(ids[1], skip_special_tokens=True) == "x\u2403"


# ---- bad input ----

def test_bad_inputs():
    for call in (lambda: TOK.encode(b"bytes"), lambda: TOK.encode("\ud800"),
                 lambda: TOK.encode_batch(["ok", 3]), lambda: TOK.encode_batch("one string"),
                 lambda: TOK.encode_batch(["ok", "\udfff"]), lambda: TOK.encode_batch(["a"], max_length=0),
                 lambda: TOK.encode_batch(["a"], padding_side="middle"),
                 lambda: TOK.encode_batch(["a"], padding="max_length"),
                 lambda: TOK.encode("a", max_length=1), lambda: TOK.encode("a", max_length="3"),
                 lambda: TOK.decode([256]), lambda: TOK.decode([-1]), lambda: TOK.decode([[1, 2]]),
                 lambda: TOK.decode([1.5]), lambda: ByteTokenizer(on_control="drop")):
        with pytest.raises(InvalidInputError):
            call()
    with pytest.raises(InvalidInputError, match="text 1"):
        TOK.encode_batch(["ok", "\udfff"])


# ---- CLI ----

def _run(args, input=None):
    return CliRunner().invoke(main, args, input=input)


def test_cli_encode_decode(ref):
    result = _run(["bytes", "encode", "héllo 🤖"])
    assert result.exit_code == 0, result.output
    assert list(map(int, result.output.split())) == ref.encode("héllo 🤖")
    result = _run(["bytes", "encode", "--no-special", "--output-format", "json", "ab"])
    assert json.loads(result.output) == [97, 98]
    result = _run(["bytes", "decode", "2", "104", "105", "3", "--visualize"])
    assert result.output == "\u2402hi\u2403\n"


def test_cli_batch(tmp_path, ref):
    lines = ["first line", "zweite Zeile ü", "", "🤖 third"]
    src = tmp_path / "lines.txt"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.npz"
    result = _run(["bytes", "batch", "-i", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = np.load(out)
    ref_ids, ref_mask = _ref_batch(ref, lines)
    assert np.array_equal(data["input_ids"], ref_ids) and np.array_equal(data["attention_mask"], ref_mask)
    assert data["lengths"].tolist() == [len(t.encode()) + 2 for t in lines]
    result = _run(["bytes", "batch", "-i", str(src), "-o", str(out), "--max-length", "6", "--pad-to-max-length",
                   "--padding-side", "left"])
    assert result.exit_code == 0 and np.load(out)["input_ids"].shape == (4, 6)


def test_cli_chat(tmp_path, ref):
    path = tmp_path / "chat.json"
    path.write_text(json.dumps({"messages": CHATS[1], "tools": TOOLS}), encoding="utf-8")
    result = CliRunner().invoke(main, ["bytes", "chat", str(path), "--output-format", "raw", "--generation-prompt"])
    assert result.exit_code == 0, result.output
    expected = ref.apply_chat_template(CHATS[1], tools=TOOLS, tokenize=False, add_generation_prompt=True)
    assert result.stdout_bytes == expected.encode()
    result = _run(["bytes", "chat", str(path)])
    assert result.output.startswith("\u2411\u240eget_weather\n")
    result = _run(["bytes", "chat", str(path), "--output-format", "ids"])
    assert list(map(int, result.output.split())) == TOK.encode_chat(CHATS[1], TOOLS)


def test_cli_errors(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{", encoding="utf-8")
    bad_utf8 = tmp_path / "bad.txt"
    bad_utf8.write_bytes(b"ok\n\xff\n")
    for args in (["bytes", "chat", str(bad_json)], ["bytes", "decode", "300"], ["bytes", "decode", "x"],
                 ["bytes", "encode", "--max-length", "1", "abc"],
                 ["bytes", "encode", "--on-control", "error", "a\x02"],
                 ["bytes", "batch", "-i", str(bad_utf8), "-o", str(tmp_path / "o.npz")],
                 ["bytes", "batch", "-i", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "o.npz")]):
        result = _run(args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith("error: ") and result.output.count("\n") == 1
        assert "Traceback" not in result.output
    assert not (tmp_path / "o.npz").exists()
    for args in (["bytes", "encode"], ["bytes", "batch", "-i", str(bad_utf8), "-o", str(tmp_path / "x.npz"),
                                                 "--pad-to-max-length"],
                 ["bytes", "encode", "--padding", "x"]):
        assert _run(args).exit_code == 2


def test_byte_tokenizer_in_evaluation():
    """`utf8-bytes` in compare/metrics: one token per byte, so premiums are UTF-8 byte-length ratios."""
    from tokenlab.evaluate.metrics import compression, token_premiums
    from tokenlab.evaluate.report import reference_tokenizer

    tok = reference_tokenizer("utf8-bytes")
    texts = {"en": ["The cat sat."], "ru": ["Кот сидел."], "ja": ["猫が座った。"]}
    assert compression(tok, ["héllo"])["bytes_per_token"] == 1.0
    premiums = token_premiums(tok, texts, reference="en")
    for lang, [text] in texts.items():
        assert premiums[lang] == pytest.approx(len(text.encode()) / len(texts["en"][0].encode()))
    assert len(tok.vocab) == 256 and tok.vocab[b"a"] == 97
