"""Tests written for the mutants of byte_tokenizer.py and models/sentencepiece.py that survived the runs over the
mutants outside their first samples (docs/testing.md): each checks the documented contract or a definition."""

from __future__ import annotations

import numpy as np
import pytest

from tokenlab import byte_tokenizer
from tokenlab.byte_tokenizer import ByteTokenizer, visualize_control_bytes
from tokenlab.errors import InvalidInputError


def _joined() -> ByteTokenizer:
    tok = ByteTokenizer()
    tok._native = False  # the numpy path
    return tok


def test_visualising_ids_that_are_not_utf8_replaces_them():
    data = [0xFF, 2, 104, 0xC3, 3]
    want = bytes(data).decode("utf-8", errors="replace").translate({2: 0x2402, 3: 0x2403})
    assert visualize_control_bytes(data) == want


def test_decode_bytes_takes_byte_255_from_wide_integer_ids():
    for dtype in (np.int64, np.int32, np.uint16):
        ids = np.array([255, 0, 254, 1], dtype=dtype)
        assert ByteTokenizer().decode_bytes(ids) == bytes(ids.tolist())
    assert ByteTokenizer().decode_bytes([255]) == bytes([255])


def test_control_byte_error_in_a_single_text_names_the_text():
    with pytest.raises(InvalidInputError) as info:
        ByteTokenizer(on_control="error").encode("ab\x01c")
    assert str(info.value) == ("text contains control byte 0x01 (MESSAGE_START) at character 2; use "
                               "on_control='picture' to make it visible text or 'keep' to pass it through")


def test_empty_text_passes_every_policy():
    for policy in ("keep", "error", "picture"):
        tok = ByteTokenizer(on_control=policy)
        assert tok.encode("") == [byte_tokenizer.BOS_ID, byte_tokenizer.EOS_ID]
        assert tok.encode_batch([""], add_special_tokens=False)[0].shape == (1, 0)
        assert tok.apply_chat_template([{"role": "user", "content": ""}]) == "\x01user\n\x0e\x0f\x17\n"


def test_encode_chat_follows_its_own_policy_and_array_option():
    messages = [{"role": "user", "content": "a\x07b"}]
    keep = ByteTokenizer()
    with pytest.raises(InvalidInputError, match="messages\\[0\\].content contains control byte 0x07"):
        keep.encode_chat(messages, on_control="error")
    pictured = keep.encode_chat(messages, on_control="picture")
    assert pictured == list(keep.apply_chat_template(messages, on_control="picture").encode())
    assert bytes(pictured).decode().count("\u2407") == 1
    assert ByteTokenizer(on_control="error").encode_chat(messages, on_control="keep") == list(
        keep.apply_chat_template(messages).encode())
    arr = keep.encode_chat(messages, as_array=True)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.uint8
    assert arr.tolist() == keep.encode_chat(messages)
    assert keep.encode_chat(messages) == list(keep.apply_chat_template(messages).encode())
    assert isinstance(keep.encode_chat(messages), list)


def test_tool_argument_name_errors_name_the_argument():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"properties": {
        "a\x01": {"description": "d"}}}}}]
    with pytest.raises(InvalidInputError) as info:
        ByteTokenizer(on_control="error").apply_chat_template([], tools=tools)
    assert str(info.value).startswith("tools[0] argument name contains control byte 0x01")
    tools[0]["function"]["parameters"]["properties"] = {3: {"description": "d"}}
    with pytest.raises(InvalidInputError) as info:
        ByteTokenizer().apply_chat_template([], tools=tools)
    assert str(info.value) == "tools[0] argument name must be a string, got int"


def test_numpy_batch_with_bos_in_a_text_after_one_two_byte_character():
    """Rows found from character counts: one 2-byte character before a text holding 0x02."""
    tok = _joined()
    for texts in (["é", "a\x02b"], ["x", "é", "\x02", "yz"], ["é\x02", "q"]):
        ids, mask = tok.encode_batch(texts)
        for row, text in enumerate(texts):
            want = tok.encode(text)
            assert ids[row][mask[row]].tolist() == want


def test_batch_error_on_the_first_text_is_reported():
    for tok in (ByteTokenizer(), _joined()):
        with pytest.raises(InvalidInputError, match="text 0 cannot be encoded as UTF-8"):
            tok.encode_batch(["\udc80", "ok"])
        with pytest.raises(InvalidInputError, match="text 0 is int, not str"):
            tok.encode_batch([7, "ok"])


def test_native_filler_is_looked_up_afresh(monkeypatch):
    """The compiled filler is chosen when numba is there, also when no batch has run yet in the process."""
    pytest.importorskip("numba")
    from tokenlab import _byte_batch

    if not _byte_batch.HAVE_NATIVE:
        pytest.skip("the compiled batch filler needs CPython")

    def joined_path(*args):
        raise AssertionError("the numpy path ran")

    monkeypatch.setattr(byte_tokenizer, "_FILL", False)
    monkeypatch.setattr(byte_tokenizer, "_encode_batch_joined", joined_path)
    ids, mask = ByteTokenizer().encode_batch(["hé", "a"])
    assert ids.tolist() == [list(b"\x02h\xc3\xa9\x03"), list(b"\x02a\x03\x00\x00")]
    assert byte_tokenizer._native_fill() is _byte_batch.fill_padded


def test_batch_argument_errors_say_what_is_wrong():
    tok = ByteTokenizer()
    cases = [
        (lambda: tok.encode_batch(["a"], padding="shortest"),
         "padding must be one of longest, max_length; got 'shortest'"),
        (lambda: tok.encode_batch("one text"), "encode_batch takes a list of texts, got a single string"),
    ]
    for call, message in cases:
        with pytest.raises(InvalidInputError) as info:
            call()
        assert str(info.value) == message
