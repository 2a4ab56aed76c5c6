"""Unused pieces (type UNUSED, e.g. left by a vocabulary restriction) against the sentencepiece library.

sentencepiece's BPE splits an unused piece back into the two pieces it was joined from (bpe_model.cc's
resegment); an unused piece that was never joined, a single character, is unknown: ``<unk>`` (one for a run of
unknown characters), or its bytes with byte fallback. Unigram leaves unused pieces out of its lattice. Both the
pure-Python path and the compiled one (the model's dispatch, `encode_ordinary`) must give sentencepiece's ids.
"""

from __future__ import annotations

import random

import pytest
from test_mutation_kills_sp import _proto as model_proto  # a ModelProto made with sentencepiece's protobuf module
from test_sp_kernel import random_piece_texts

from tokenlab import kernels
from tokenlab.models.sentencepiece import BYTE, CONTROL, NORMAL, UNKNOWN, UNUSED, USER_DEFINED

BPE, UNIGRAM = 2, 1  # trainer_spec.model_type
BYTE_PIECES = [(f"<0x{b:02X}>", 0.0, BYTE) for b in range(256)]
# "a" and "▁" are unused characters; "ab", "bc" and "▁b" unused joins; "abc" a normal piece over unused ones
PIECES = [("<unk>", 0.0, UNKNOWN), ("<s>", 0.0, CONTROL), ("a", -1.0, UNUSED), ("b", -1.0, NORMAL),
          ("c", -1.0, NORMAL), ("ab", -0.5, UNUSED), ("\u2581", -3.0, UNUSED), ("bc", -0.75, UNUSED),
          ("\u2581b", -0.25, UNUSED), ("abc", -0.125, NORMAL), ("<u>", 0.0, USER_DEFINED), ("d", -2.0, NORMAL),
          ("da", -1.5, NORMAL)]
TEXTS = ["a", "aa", "ab", "ba", "cab", "bc", "abc", "b", " b", "xa", "a b a", "bca", "abcab", "a<u>a", "<u>",
         "daa", "ada", "d a", "a\u00e9a", "  a  ", "ab ab abc", "\u2581a"]
NORMALIZERS = [{"name": "identity"}, {"name": "identity", "add_dummy_prefix": False},
               {"name": "identity", "remove_extra_whitespaces": False}]


def _proto(pieces, model_type, byte_fallback=False, normalizer=None) -> bytes:
    return model_proto(pieces, model_type, trainer={"byte_fallback": byte_fallback}, normalizer=normalizer)


def _both(data: bytes):
    spm = pytest.importorskip("sentencepiece")
    from tokenlab.io.sentencepiece import parse_sentencepiece

    return spm.SentencePieceProcessor(model_proto=data), parse_sentencepiece(data)


def _check(ref, ours, text, context) -> list[int]:
    """Both paths give sentencepiece's ids, and the pieces of those ids are sentencepiece's pieces."""
    want = ref.encode(text)
    assert ours._encode_python(text) == want, (context, text)
    assert ours.encode_ordinary(text) == want, (context, text)
    if ours._kernel is not None:
        assert ours._kernel.encode(text) == want, (context, text)
    assert ours.pieces_of(want) == [ref.id_to_piece(i) for i in want]
    # sentencepiece names an unknown run by its text: every other piece is the one it segmented
    for i, piece in zip(want, ref.encode(text, out_type=str)):
        if i != ours.unk_id:
            assert ours.pieces_of([i]) == [piece], (context, text)
    return want


@pytest.mark.parametrize("byte_fallback", [False, True])
@pytest.mark.parametrize("model_type", [BPE, UNIGRAM])
def test_unused_pieces_encode_like_sentencepiece(model_type, byte_fallback):
    """An unused character is unknown (its bytes with byte fallback) alone, in a word, next to unknown
    characters and inside an unused join; unused joins split back; a normal piece over unused ones stays."""
    pieces = PIECES + (BYTE_PIECES if byte_fallback else [])
    a, unk, a_byte = 2, 0, len(PIECES) + 0x61  # the ids of "a", <unk> and <0x61>
    for normalizer in NORMALIZERS:
        ref, ours = _both(_proto(pieces, model_type, byte_fallback, normalizer))
        if model_type == UNIGRAM and kernels.sp is not None:
            assert ours._kernel is not None  # the compiled Unigram path is compared too
        for text in TEXTS:
            ids = _check(ref, ours, text, normalizer)
            assert a not in ids, (normalizer, text)  # the unused character never comes out
        assert ref.encode("a")[-1] == (a_byte if byte_fallback else unk)  # what sentencepiece does, checked here
    assert ours.encode_token_text("a") != [a]  # token-health checks see the unused character as unreachable


def _random_model(rng: random.Random):
    model_type, byte_fallback = rng.choice([BPE, UNIGRAM]), rng.random() < 0.5
    pieces = [("<unk>", 0.0, UNKNOWN), ("<s>", 0.0, CONTROL)] + (BYTE_PIECES if byte_fallback else [])
    for piece in random_piece_texts(rng, "ab\u2581c\u00e9", rng.randrange(3, 30), 3):
        kind = rng.choices([NORMAL, UNUSED, USER_DEFINED], [0.6, 0.35, 0.05 if model_type == BPE else 0.0])[0]
        pieces.append((piece, rng.choice([-1.0, -2.0, -0.5, -0.25, float(rng.randrange(-20, 0))]), kind))
    if not any(kind == NORMAL for _, _, kind in pieces):
        pieces.append(("zz", -1.0, NORMAL))
    normalizer = {"name": "identity", "add_dummy_prefix": rng.random() < 0.7,
                  "remove_extra_whitespaces": rng.random() < 0.5}
    return _proto(pieces, model_type, byte_fallback, normalizer)


def test_random_models_with_unused_pieces_encode_like_sentencepiece():
    rng = random.Random(15)
    checked = 0
    for _ in range(150):
        data = _random_model(rng)
        ref, ours = _both(data)
        for _ in range(8):
            text = "".join(rng.choice(["a", "b", "c", "\u00e9", "\u2581", " ", "  ", "x", "ab", "ca"])
                           for _ in range(rng.randrange(0, 25)))
            _check(ref, ours, text, ours.pieces)
            checked += 1
    assert checked == 1200


def test_models_with_unused_pieces_are_not_written_as_tokenizer_json(tmp_path):
    """HF's BPE would give the unused pieces' ids (exported as normal pieces, "a" encodes as "a" there):
    tokenlab refuses the export, and writes no file."""
    tokenizers = pytest.importorskip("tokenizers")
    import json

    from tokenlab.errors import FormatError

    keep = {"name": "identity", "remove_extra_whitespaces": False}
    ref, ours = _both(_proto(PIECES, BPE, False, keep))
    with pytest.raises(FormatError) as info:
        ours.to_hf_dict()
    assert str(info.value) == ("SentencePiece models with unused pieces (5, the first 'a') cannot be written as "
                               "tokenizer.json: HF's BPE would give their ids")
    with pytest.raises(FormatError):
        ours.save_hf(tmp_path / "tokenizer.json")
    assert not list(tmp_path.iterdir())
    normal = [(piece, score, NORMAL if kind == UNUSED else kind) for piece, score, kind in PIECES]
    ref, ours = _both(_proto(normal, BPE, False, keep))
    hf = tokenizers.Tokenizer.from_str(json.dumps(ours.to_hf_dict(), ensure_ascii=False))
    for text in TEXTS:  # the same pieces, none unused, are exported as sentencepiece encodes them
        if "<u>" in text:
            continue  # HF gives the text after a user symbol a dummy "▁" too (its legacy spacing, documented)
        assert hf.encode(text, add_special_tokens=False).ids == ref.encode(text), text
