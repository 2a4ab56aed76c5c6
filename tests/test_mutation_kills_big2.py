"""Tests written for the mutants of byte_tokenizer.py and models/sentencepiece.py that survived the runs over the
mutants outside their first samples (docs/testing.md): each checks the documented contract or a definition."""

from __future__ import annotations

import numpy as np
import pytest
from test_mutation_kills_sp import _proto as _sp_proto  # a ModelProto made with sentencepiece's protobuf module

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


# ---- models/sentencepiece.py ----

def _both(data: bytes):
    spm = pytest.importorskip("sentencepiece")
    from tokenlab.io.sentencepiece import parse_sentencepiece

    return spm.SentencePieceProcessor(model_proto=data), parse_sentencepiece(data)


PIECES = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("\u2581", -1.5, 1), ("a", -1.0, 1), ("b", -1.25, 1),
          ("ab", -0.75, 1), ("\u2581ab", -0.5, 1), ("X", -2.0, 1), ("c", -2.5, 1), ("<sep>", 0.0, 4)]


def test_extra_space_removal_strips_only_spaces_like_sentencepiece():
    for model_type in (1, 2):
        ref, ours = _both(_sp_proto(PIECES[:-1], model_type, normalizer={"name": "identity"}))  # no user symbol
        for text in ["XXab", "X ab", "  XX  X ", "XX", " X", "ab  X"]:
            assert ours.normalize(text) == ref.normalize(text), text
            assert ours._encode_python(text) == ref.encode(text), text


def test_token_text_of_a_model_that_keeps_spaces_like_sentencepiece():
    pieces = [("<unk>", 0.0, 2), ("a", -1.0, 1), ("b", -1.0, 1), (" ", -1.0, 1), ("a ", -0.5, 1),
              ("a b", -0.25, 1), ("\u2581", -3.0, 1)]
    keep = {"name": "identity", "escape_whitespaces": False, "add_dummy_prefix": False,
            "remove_extra_whitespaces": False}
    for model_type in (1, 2):
        ref, ours = _both(_sp_proto(pieces, model_type, normalizer=keep))
        for text in ["a b", "a  b", "ba b", " a"]:
            assert ours.encode_token_text(text) == ref.encode(text), text


def test_json_round_trip_keeps_the_unknown_surface():
    from tokenlab.models.sentencepiece import SentencePieceTokenizer

    ref, ours = _both(_sp_proto(PIECES, 2, trainer={"unk_surface": "<?>"}, normalizer={"name": "identity"}))
    again = SentencePieceTokenizer.from_dict(ours.to_dict())
    ids = ref.encode("ab \u00e9 ab")
    assert ours.unk_id in ids
    assert again.decode(ids) == ours.decode(ids) == ref.decode(ids)


def test_hf_export_skips_control_pieces_and_splits_user_symbols_anywhere():
    tokenizers = pytest.importorskip("tokenizers")
    import json

    keep = {"name": "identity", "remove_extra_whitespaces": False}
    ref, ours = _both(_sp_proto(PIECES, 2, normalizer=keep))
    hf = tokenizers.Tokenizer.from_str(json.dumps(ours.to_hf_dict(), ensure_ascii=False))
    s = ours.special_tokens["<s>"]
    for ids in ([s, *ref.encode("ab ab")], [*ref.encode("ab"), s, *ref.encode(" ab b")], [s]):
        assert hf.decode(ids, skip_special_tokens=True) == ref.decode(ids), ids
    for text in ["cab<sep>ab", "<sep>x", "a <sep> b", "x<sep>", "<sep><sep>"]:
        want = ref.encode(text, out_type=str).count("<sep>")
        assert hf.encode(text, add_special_tokens=False).tokens.count("<sep>") == want, text


def test_charsmap_takes_the_shortest_key_of_a_short_cluster_like_hf():
    """HF's Precompiled replaces a cluster under 6 bytes by its shortest matching key: "ª" + a combining
    mark becomes "a" there (the longest key would give the accented letter)."""
    spm = pytest.importorskip("sentencepiece")
    normalizers = pytest.importorskip("tokenizers.normalizers")
    import io

    from tokenlab.io.sentencepiece import parse_sentencepiece

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["the cat sat on the mat", "ª ｆｕｌｌ ①"] * 20),
                                   model_writer=buf, vocab_size=30, minloglevel=2, hard_vocab_limit=False,
                                   normalization_rule_name="nmt_nfkc", num_threads=1)
    ours = parse_sentencepiece(buf.getvalue())
    hf = normalizers.Precompiled(ours.precompiled_charsmap)
    for text in ["\u00aa\u0300", "x\u00aa\u0301y", "\u00aa\u0308 \u00ba\u0301", "\u00b2\u0301"]:
        assert ours._trie.normalize_graphemes(text) == hf.normalize_str(text), text
    # sentencepiece's own normalizer takes the longest key: "ª" + grave is "à" there
    ref = spm.SentencePieceProcessor(model_proto=buf.getvalue())
    for text in ["\u00aa\u0300", "x\u00aa\u0301y", "\u00aa\u0308 \u00ba\u0301", "\u00b2\u0301"]:
        assert ours.normalize(text) == ref.normalize(text), text


def _charsmap_blob(units: list[int], strings: bytes) -> bytes:
    import struct

    return struct.pack("<I", 4 * len(units)) + struct.pack(f"<{len(units)}I", *units) + strings


def test_hand_made_character_maps_walk_like_hf_precompiled():
    """A root in darts-clone's extended offset form (bit 9: the offset is shifted by 8 more), and a walk that
    reaches the node just past the array (it stops there: no key)."""
    normalizers = pytest.importorskip("tokenizers.normalizers")
    from tokenlab.models.sentencepiece import CharsMap

    units = [0] * 1024
    units[0] = (1 << 10) | (1 << 9)  # children at offset 1 << 8
    for c in b"ab":
        units[256 ^ c] = c | (1 << 8) | (1 << 10)  # label c, has a value, which sits at offset 1
        units[(256 ^ c) ^ 1] = 1 << 31  # value 0: the string "Z"
    units[256 ^ ord("d")] = ord("d") | (1 << 8) | (1 << 10) | (1 << 9)  # a child in the extended form too
    units[(256 ^ ord("d")) ^ 256] = (1 << 31) | 2  # value 2: the string "Y"
    extended = _charsmap_blob(units, b"Z\x00Y\x00")
    size = 600
    edge = [0] * size
    edge[0] = 1 << 10
    edge[1 ^ ord("c")] = ord("c") | (1 << 8) | (1 << 10)
    edge[(1 ^ ord("c")) ^ 1] = 1 << 31
    edge[1 ^ ord("a")] = ord("a") | (((1 ^ ord("a")) ^ (size ^ ord("b"))) << 10)  # "a" then "b" walks to 600
    for blob in (extended, _charsmap_blob(edge, b"Z\x00")):
        ours, hf = CharsMap(blob), normalizers.Precompiled(blob)
        for text in ["a", "xay", "b c", "abc", "cab", "ab", "ba", "d", "adc", "dd"]:
            assert ours.normalize_graphemes(text) == hf.normalize_str(text), text
    assert CharsMap(_charsmap_blob(edge, b"Z\x00")).longest_match(b"abc", 0) == (0, "")


def test_hf_export_never_takes_a_whole_word_that_bpe_cannot_reach():
    """sentencepiece BPE reaches a piece only through joins of two pieces; "▁abc" here has no such split."""
    tokenizers = pytest.importorskip("tokenizers")
    import json

    pieces = [("<unk>", 0.0, 2), ("\u2581", -1.0, 1), ("a", -1.0, 1), ("b", -1.0, 1), ("c", -1.0, 1),
              ("\u2581abc", 0.0, 1), ("bc", -3.0, 1)]
    ref, ours = _both(_sp_proto(pieces, 2, normalizer={"name": "identity", "remove_extra_whitespaces": False}))
    hf = tokenizers.Tokenizer.from_str(json.dumps(ours.to_hf_dict(), ensure_ascii=False))
    for text in ["abc", "abc abc", "a bc", "cab"]:
        assert hf.encode(text, add_special_tokens=False).ids == ref.encode(text) == ours.encode(text), text


def test_unused_pieces_joined_from_unused_pieces_split_back_like_sentencepiece():
    """bpe_model.cc resegments an unused piece into the two it was joined from, recursively: "abc" (unused) from
    "ab" (unused) + "c", and "xbc" (unused) from "x" + "bc" (unused)."""
    pieces = [("<unk>", 0.0, 2), ("a", -1.0, 1), ("b", -1.0, 1), ("c", -1.0, 1), ("ab", -0.5, 5), ("abc", -0.25, 5),
              ("bc", -0.6, 5), ("x", -1.0, 1), ("xbc", -0.1, 5), ("\u2581", -3.0, 1)]
    keep = {"name": "identity", "remove_extra_whitespaces": False, "add_dummy_prefix": False}
    ref, ours = _both(_sp_proto(pieces, 2, normalizer=keep))
    for text in ["abc", "xbc", "ab", "cab", "xbcabc", "bcx"]:
        assert ours._encode_python(text) == ref.encode(text), text


def test_a_value_under_an_extended_offset_node_is_checked_when_the_map_loads():
    """A root and a child in darts-clone's extended offset form (bit 9): the value below them points past the
    strings, so the map is refused, as sentencepiece refuses it."""
    from tokenlab.errors import FormatError
    from tokenlab.models.sentencepiece import CharsMap

    units = [0] * 1024
    units[0] = (1 << 10) | (1 << 9)
    units[256 ^ ord("d")] = ord("d") | (1 << 8) | (1 << 10) | (1 << 9)
    units[(256 ^ ord("d")) ^ 256] = (1 << 31) | 99  # value 99: past the 4 bytes of strings
    spm = pytest.importorskip("sentencepiece")
    pieces = [("<unk>", 0.0, 2), ("d", -1.0, 1), ("Y", -1.0, 1), ("\u2581", -3.0, 1)]

    def proto(blob):
        return _sp_proto(pieces, 2, normalizer={"name": "hand_made", "precompiled_charsmap": blob})

    blob = _charsmap_blob(units, b"Z\x00Y\x00")
    with pytest.raises(FormatError, match="a value lies outside the strings"):
        CharsMap(blob)
    with pytest.raises(RuntimeError, match="precompiled_charsmap is invalid"):
        spm.SentencePieceProcessor(model_proto=proto(blob))
    units[(256 ^ ord("d")) ^ 256] = (1 << 31) | 2
    blob = _charsmap_blob(units, b"Z\x00Y\x00")
    assert CharsMap(blob).normalize_graphemes("d") == "Y"
    assert spm.SentencePieceProcessor(model_proto=proto(blob)).normalize("d") == "\u2581Y"


def test_best_segmentation_by_default_keeps_double_paths_like_hf_unigram():
    """The default arithmetic is HF Unigram's (doubles): "ab" at -0.3000000005 loses to "a" + "b" there, and wins
    in float32 (sentencepiece's)."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.models.sentencepiece import best_segmentation

    vocab = [("<unk>", 0.0), ("a", -0.1), ("b", -0.2), ("ab", -0.3000000005), ("c", -1.0), ("bc", -1.1),
             ("abc", -1.5), ("ca", -0.9)]
    hf = tokenizers.Tokenizer(tokenizers.models.Unigram(vocab, unk_id=0, byte_fallback=False))
    scores = dict(vocab[1:])
    for text in ["ab", "abc", "cab", "xab", "abxxc", "bcab", "cabcab", "x", "aab"]:
        got, want = best_segmentation(text, scores, 3, -10.0), hf.encode(text)
        assert [p for p, _ in got] == want.tokens, text  # HF names an unknown run by its text
        assert [known for _, known in got] == [i != 0 for i in want.ids], text
    assert best_segmentation("ab", scores, 3, -10.0, float32_paths=True) == [("ab", True)]


def test_charsmap_size_errors_say_which_part_is_wrong():
    import struct

    from tokenlab.errors import FormatError
    from tokenlab.models.sentencepiece import CharsMap

    cases = [(b"\x00\x00\x00", "is truncated"),  # no room for the trie size
             (struct.pack("<I", 0), "empty trie or unterminated strings"),  # a size and nothing else
             (struct.pack("<I", 8) + b"\x00" * 4, "corrupt trie size"),  # a trie longer than the blob
             (struct.pack("<I", 6) + b"\x00" * 8, "corrupt trie size")]  # not whole units
    for blob, message in cases:
        with pytest.raises(FormatError, match=message):
            CharsMap(blob)


def test_normalizer_with_user_symbols_and_kept_spaces_like_sentencepiece():
    """The full normalizer path (a user symbol; no character map): a symbol with inner spaces stays whole, extra
    spaces go before "X" too, and trailing spaces are stripped without escaping."""
    pieces = [*PIECES, ("x  y", 0.0, 4), (" z", 0.0, 4), ("w ", 0.0, 4)]
    for normalizer in ({"name": "identity"}, {"name": "identity", "escape_whitespaces": False},
                       {"name": "identity", "escape_whitespaces": False, "add_dummy_prefix": False}):
        for model_type in (1, 2):
            ref, ours = _both(_sp_proto(pieces, model_type, normalizer=normalizer))
            for text in ["a X", "X  X", "aX", "abX  ", "x  y X", " x  yX", "Xa<sep>X", "ab X X",
                         " z", "  zw  w", "a  z", "w  w ", "w  zb"]:
                assert ours.normalize(text) == ref.normalize(text), (normalizer, text)
                assert ours._encode_python(text) == ref.encode(text), (normalizer, text)


def test_text_that_is_not_utf8_is_refused_with_where():
    ref, ours = _both(_sp_proto(PIECES, 2, normalizer={"name": "identity"}))
    with pytest.raises(InvalidInputError, match=r"^text is not valid UTF-8 \(surrogates not allowed at character 1\)$"):
        ours.normalize("a\ud800b")


def test_control_tokens_before_the_first_piece_keep_the_dummy_prefix_rule_like_sentencepiece():
    for normalizer in ({"name": "identity"}, {"name": "identity", "remove_extra_whitespaces": False}):
        ref, ours = _both(_sp_proto(PIECES, 2, normalizer=normalizer))
        s = ours.special_tokens["<s>"]
        for ids in ([s, *ref.encode("ab b")], [s, s, *ref.encode(" ab")], [s, *ref.encode("  X")]):
            assert ours.decode(ids).replace("<s>", "") == ref.decode(ids), ids


def test_suffix_models_split_words_after_the_space_mark_like_sentencepiece():
    """treat_whitespace_as_suffix: "▁" ends a word, so a piece with "▁" before another character spans words
    (no word cache then), and one with "▁" last does not."""
    keep = {"name": "identity"}
    base = [("<unk>", 0.0, 2), ("a", -1.0, 1), ("b", -1.0, 1), ("\u2581", -1.0, 1)]
    for extra in ([("\u2581a", -0.1, 1)], [("b\u2581", -0.2, 1), ("ab", -0.3, 1), ("ab\u2581", -0.1, 1)]):
        for model_type in (1, 2):
            ref, ours = _both(_sp_proto(base + extra, model_type, trainer={"treat_whitespace_as_suffix": True},
                                        normalizer=keep))
            for text in ["b a", "ab ab", "a a b", "ba ab"]:
                assert ours._encode_python(text) == ref.encode(text), (extra, text)


def test_decode_errors_argument_is_passed_on():
    from tokenlab.models.sentencepiece import SentencePieceTokenizer

    pieces = [("<unk>", 0.0, 2), *((f"<0x{b:02X}>", 0.0, 6) for b in range(256)), ("a", -1.0, 1)]
    tok = SentencePieceTokenizer(pieces, "bpe", byte_fallback=True)
    ids = [tok.byte_to_id[0xFF], tok.piece_to_id["a"]]
    with pytest.raises(InvalidInputError, match="ids decode to invalid UTF-8"):
        tok.decode(ids, errors="strict")
    assert tok.decode(ids, errors="ignore") == "a"


# ---- models/sentencepiece.py, session 8: the survivors explained before, now checked against sentencepiece ----
MAP_PIECES = [("<unk>", 0.0, 2), ("a", -1.0, 1), ("b", -1.0, 1), ("Q", -1.0, 1), ("Z", -1.0, 1), ("\u2581", -3.0, 1)]


def _map_model(units, strings):
    """sentencepiece and tokenlab reading a BPE model whose character map is the hand-made darts-clone array."""
    blob = _charsmap_blob(units, strings)
    return blob, _sp_proto(MAP_PIECES, 2, normalizer={"name": "hand_made", "precompiled_charsmap": blob})


def test_charsmap_units_at_the_array_end_are_refused_like_sentencepiece():
    """A root whose children would start exactly at the array's end, and a key whose value unit is exactly the
    one past the last: sentencepiece refuses both maps, and so does tokenlab, each with its reason."""
    spm = pytest.importorskip("sentencepiece")
    from tokenlab.errors import FormatError
    from tokenlab.models.sentencepiece import CharsMap

    root_at_end = [512 << 10] + [0] * 511  # 512 units, children from unit 512 on
    size = 1024
    value_at_end = [0] * size
    value_at_end[0] = (1 << 10) | (1 << 9)  # root offset 256 (extended form); as a value, 1536: inside the strings
    child = 256 ^ ord("a")
    value_at_end[child] = ord("a") | (1 << 8) | ((child ^ size) << 10)  # "a" has a value, at unit 1024
    for units, strings, reason in [(root_at_end, b"Z\x00", "a node points outside the trie"),
                                   (value_at_end, b"Z\x00" + b"\x00" * 2000, "a value lies outside the strings")]:
        blob, proto = _map_model(units, strings)
        with pytest.raises(FormatError) as info:
            CharsMap(blob)
        assert str(info.value) == f"precompiled_charsmap is invalid ({reason})"
        with pytest.raises(RuntimeError, match="precompiled_charsmap is invalid"):
            spm.SentencePieceProcessor(model_proto=proto)


def test_charsmap_children_at_unit_0_and_a_loop_read_like_sentencepiece():
    """Two maps sentencepiece reads: the children of "a" start at unit 0 (base 0 is inside the array), and "a"
    leads back to the root's children, so "a", "aa", "aaa", ... are all keys (a loop darts-clone never builds)."""
    from tokenlab.io.sentencepiece import parse_sentencepiece

    base_0 = [0] * 256
    base_0[0] = 1 << 10  # root offset 1
    base_0[1 ^ ord("a")] = ord("a") | ((1 ^ ord("a")) << 10)  # "a": no value, children from unit 0
    base_0[ord("b")] = ord("b") | (1 << 8) | ((ord("b") ^ 200) << 10)  # "ab" has the value at unit 200
    base_0[200] = 1 << 31  # value 0: "Q"
    loop = [0] * 512
    loop[0] = 256 << 10  # root offset 256
    loop[256] = 1 << 31  # value 0: "Z"
    child = 256 ^ ord("a")
    loop[child] = ord("a") | (1 << 8) | ((child ^ 256) << 10)  # "a": value and children back at the root's
    for units, strings in [(base_0, b"Q\x00"), (loop, b"Z\x00")]:
        blob, proto = _map_model(units, strings)
        spm = pytest.importorskip("sentencepiece")
        ref, ours = spm.SentencePieceProcessor(model_proto=proto), parse_sentencepiece(proto)
        for text in ["a", "ab", "aab", "abab", "bab", "aaab a", "ba"]:
            assert ours.normalize(text) == ref.normalize(text), text
            assert ours.encode(text) == ref.encode(text), text
    assert ref.normalize("aaab") == "\u2581Zb"  # the longest key of the loop, "aaa"


def test_charsmap_walk_is_refused_as_a_cycle_only_when_it_comes_back_to_the_root():
    """A map without keys in which one path visits every unit sentencepiece reads (its units lie inside the
    array); tokenlab's walk takes as many rounds as there are units there and must read it too. When the path
    also comes back to the root unit, the walk would never end: that map is refused (sentencepiece refuses it
    too, for its root's label and its size)."""
    spm = pytest.importorskip("sentencepiece")
    from tokenlab.errors import FormatError
    from tokenlab.io.sentencepiece import parse_sentencepiece
    from tokenlab.models.sentencepiece import CharsMap

    chain = [2 << 10] + [0] * 255  # root offset 2; unit k is the only child of base (k + 1) % 256
    for k in range(1, 256):
        chain[k] = (k ^ (k + 1) % 256) | ((k ^ ((k + 2) % 256 if k < 255 else 255)) << 10)
    blob, proto = _map_model(chain, b"\x00")
    ref, ours = spm.SentencePieceProcessor(model_proto=proto), parse_sentencepiece(proto)
    for text in ["a", "ab ba", "\x01\x02\xff"]:
        assert ours.normalize(text) == ref.normalize(text), text
    back_to_root = [1, 1]  # root offset 0 and label 1: unit 1 (label 1) is its child, and unit 0 is unit 1's
    blob, proto = _map_model(back_to_root, b"\x00")
    with pytest.raises(FormatError) as info:
        CharsMap(blob)
    assert str(info.value) == "precompiled_charsmap is invalid (the trie has a cycle)"
    with pytest.raises(RuntimeError):
        spm.SentencePieceProcessor(model_proto=proto)


def test_a_path_score_of_exactly_minus_100000_is_not_rebased():
    """sentencepiece re-bases float32 path scores once one passes -100000, not at exactly -100000: after z
    (-100000) a + b and ab all round to -100000, a tie ab (first) keeps; re-based to 0, a|b would win."""
    pieces = [("<unk>", 0.0, 2), ("\u2581", -9.0, 1), ("z", -100000.0, 1), ("a", -1 / 1024, 1), ("b", -1 / 1024, 1),
              ("ab", -3 / 1024, 1)]
    ref, ours = _both(_sp_proto(pieces, 1, normalizer={"name": "identity", "add_dummy_prefix": False}))
    assert ref.encode("zab") == [2, 5]
    for text in ("zab", "zabab", "zzab", "ab"):
        assert ours._encode_python(text) == ref.encode(text), text
        assert ours.encode(text) == ref.encode(text), text


def test_info_on_a_sentencepiece_model_shows_no_pre_tokenizer(tmp_path):
    """sentencepiece encodes the whole normalized text: the model's pre-tokenizer is "none" (one piece), which
    `tokenlab info` reports, with sentencepiece's piece count."""
    import json

    from click.testing import CliRunner

    from tokenlab.cli import main

    ref, ours = _both(_sp_proto(PIECES, 2, normalizer={"name": "identity"}))
    assert ours.pretokenizer.split("ab X\u2581a b") == ["ab X\u2581a b"]
    path = tmp_path / "m.model"
    path.write_bytes(_sp_proto(PIECES, 2, normalizer={"name": "identity"}))
    result = CliRunner().invoke(main, ["info", str(path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert (info["pretokenizer"], info["split_digits"]) == ("none", None)
    assert info["vocab_size"] == ref.get_piece_size()
