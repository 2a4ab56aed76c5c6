"""SentencePiece ``.model`` files (a serialized ``ModelProto``), read without protobuf.

Only the fields encoding needs are read: the pieces (text, score, type), the trainer's model type,
``byte_fallback`` and ``treat_whitespace_as_suffix``, and the normalizer spec (name, precompiled
character map, dummy prefix, whitespace rules). Field numbers follow sentencepiece_model.proto.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ..errors import FormatError

# ModelProto
_PIECES, _TRAINER, _NORMALIZER = 1, 2, 3
# ModelProto.SentencePiece
_PIECE, _SCORE, _TYPE = 1, 2, 3
# TrainerSpec
_MODEL_TYPE, _SUFFIX, _BYTE_FALLBACK, _UNK_SURFACE = 3, 24, 35, 44
# NormalizerSpec
_NAME, _CHARSMAP, _DUMMY_PREFIX, _REMOVE_SPACES, _ESCAPE_SPACES = 1, 2, 3, 4, 5


# wire types of the fields read here (0 varint, 2 bytes, 5 float): protobuf refuses a known field sent with
# another wire type, so a file with one is damaged
_TOP_WIRES = {_PIECES: 2, _TRAINER: 2, _NORMALIZER: 2}
_PIECE_WIRES = {_PIECE: 2, _SCORE: 5, _TYPE: 0}
_TRAINER_WIRES = {_MODEL_TYPE: 0, _SUFFIX: 0, _BYTE_FALLBACK: 0, _UNK_SURFACE: 2}
_NORMALIZER_WIRES = {_NAME: 2, _CHARSMAP: 2, _DUMMY_PREFIX: 0, _REMOVE_SPACES: 0, _ESCAPE_SPACES: 0}


def _check_wire(expected: dict[int, int], number: int, wire: int, where: str) -> bool:
    if number in expected and wire != expected[number]:
        raise FormatError(f"{where}: field {number} has wire type {wire}, expected {expected[number]}")
    if number == 0:
        raise FormatError(f"{where}: field number 0 is invalid")
    return True


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise FormatError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(data: bytes):
    """(field number, wire type, value) of one message; length-delimited values are bytes."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise FormatError(f"unsupported protobuf wire type {wire}")
        if i > len(data):
            raise FormatError("truncated protobuf field")
        yield number, wire, value


def looks_like_sentencepiece(head: bytes) -> bool:
    """A ModelProto starts with its first piece: field 1, length-delimited, holding field 1 (the text)."""
    if len(head) < 4 or head[0] != 0x0A:
        return False
    try:
        size, i = _varint(head, 1)
    except FormatError:
        return False
    return i < len(head) and head[i] == 0x0A and size > 2


def parse_sentencepiece(data: bytes, name: str = ""):
    from ..models.sentencepiece import MODEL_TYPES, NORMAL, SentencePieceTokenizer

    pieces: list[tuple[str, float, int]] = []
    trainer: dict[int, object] = {}
    normalizer: dict[int, object] = {}
    try:
        for number, wire, value in _fields(data):
            _check_wire(_TOP_WIRES, number, wire, "model")
            if number == _PIECES and wire == 2:
                piece, score, kind = None, 0.0, NORMAL
                for f, w, v in _fields(value):
                    _check_wire(_PIECE_WIRES, f, w, f"pieces[{len(pieces)}]")
                    if f == _PIECE and w == 2:
                        piece = v.decode("utf-8")
                    elif f == _SCORE and w == 5:
                        score = struct.unpack("<f", v)[0]
                    elif f == _TYPE and w == 0:
                        kind = v
                if piece is None:
                    raise FormatError(f"piece {len(pieces)} has no text")
                pieces.append((piece, score, kind))
            elif number == _TRAINER and wire == 2:
                trainer = {f: v for f, w, v in _fields(value) if _check_wire(_TRAINER_WIRES, f, w, "trainer_spec")}
            elif number == _NORMALIZER and wire == 2:
                normalizer = {f: v for f, w, v in _fields(value)
                              if _check_wire(_NORMALIZER_WIRES, f, w, "normalizer_spec")}
    except UnicodeDecodeError:
        raise FormatError("sentencepiece model has a piece that is not UTF-8") from None
    if not pieces:
        raise FormatError("not a sentencepiece model (no pieces)")
    model_type = MODEL_TYPES.get(trainer.get(_MODEL_TYPE, 1), "unknown")
    unk_surface = trainer.get(_UNK_SURFACE, " \u2047 ".encode())
    return SentencePieceTokenizer(
        pieces, model_type,
        byte_fallback=bool(trainer.get(_BYTE_FALLBACK, 0)),
        treat_whitespace_as_suffix=bool(trainer.get(_SUFFIX, 0)),
        add_dummy_prefix=bool(normalizer.get(_DUMMY_PREFIX, 1)),
        remove_extra_whitespaces=bool(normalizer.get(_REMOVE_SPACES, 1)),
        escape_whitespaces=bool(normalizer.get(_ESCAPE_SPACES, 1)),
        precompiled_charsmap=bytes(normalizer.get(_CHARSMAP, b"")),
        normalizer_name=bytes(normalizer.get(_NAME, b"")).decode("utf-8", "replace"),
        unk_surface=bytes(unk_surface).decode("utf-8", "replace"),
        name=name,
    )


def read_sentencepiece(path):
    """A `SentencePieceTokenizer` from a ``.model`` file; ids equal sentencepiece's ``encode``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    try:
        return parse_sentencepiece(data, name=path.name)
    except FormatError as exc:
        raise FormatError(f"{path}: {exc}") from None
