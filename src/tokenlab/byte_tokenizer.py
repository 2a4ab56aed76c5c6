"""A byte tokenizer whose ids are the UTF-8 bytes themselves (the "Back to Bytes" UTF8Tokenizer scheme).

Every id is in 0..255 and there are no extra tokens: structure (padding, sequence and message boundaries,
attention blocks, tool definitions and calls, thinking spans) is written with C0 control bytes. Ids, the
chat template bytes and the padded batches equal the PyPI ``utf8-tokenizer`` package's on the same input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import IntEnum

import numpy as np

from .errors import InvalidInputError

__all__ = [
    "ByteTokenizer", "ControlByte", "CONTROL_BYTES", "visualize_control_bytes",
    "PAD_ID", "BOS_ID", "EOS_ID",
]


class ControlByte(IntEnum):
    """Roles of the C0 control bytes (values follow utf8-tokenizer; THINKING_* are tokenlab's choice)."""

    PAD = 0x00               # NUL
    MESSAGE_START = 0x01     # SOH: a chat message starts, role name follows up to "\n"
    BOS = 0x02               # STX: start of text
    EOS = 0x03               # ETX: end of text
    ATTENTION_START = 0x0E   # SO: a block the model reads but does not generate (non-assistant content)
    ATTENTION_END = 0x0F     # SI
    TOOL_DEFINITION = 0x11   # DC1: a tool definition follows (inside an attention block)
    THINKING_START = 0x12    # DC2: tokenlab extension, the reference template has no thinking spans
    THINKING_END = 0x13      # DC3
    MESSAGE_END = 0x17       # ETB: end of a chat message
    TOOL_CALL_START = 0x1A   # SUB
    TOOL_CALL_END = 0x1B     # ESC


PAD_ID = int(ControlByte.PAD)
BOS_ID = int(ControlByte.BOS)
EOS_ID = int(ControlByte.EOS)

# The non-whitespace C0 bytes and DEL: these can collide with structure when they occur in user text.
CONTROL_BYTES = frozenset([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])
_WHITESPACE_CONTROLS = frozenset([0x09, 0x0A, 0x0B, 0x0C, 0x0D])

# Unicode "Control Pictures" (U+2400 block), as utf8-tokenizer's visualisation uses them.
_PICTURES_ALL = {code: 0x2400 + code for code in range(0x20)} | {0x7F: 0x2421}
_PICTURES_NO_WHITESPACE = {c: p for c, p in _PICTURES_ALL.items() if c not in _WHITESPACE_CONTROLS}

_IS_CONTROL = np.zeros(256, dtype=bool)
_IS_CONTROL[list(CONTROL_BYTES)] = True

_ON_CONTROL = ("keep", "error", "picture")
_PADDING_SIDES = ("right", "left")


def visualize_control_bytes(text: str | bytes | Sequence[int], include_whitespace: bool = False) -> str:
    """Show control bytes as visible symbols (␂, ␃, ␁, ...) so chat structure can be read on a terminal."""
    if not isinstance(text, str):
        text = ByteTokenizer().decode(text, errors="replace")
    return text.translate(_PICTURES_ALL if include_whitespace else _PICTURES_NO_WHITESPACE)


class ByteTokenizer:
    """UTF-8 bytes as ids: ``encode`` for one text, ``encode_batch`` for padded uint8 numpy batches.

    ``on_control`` decides what happens to control bytes already present in user text:
    ``"keep"`` (default, same as utf8-tokenizer: they pass through and are indistinguishable from structure),
    ``"error"`` (raise ``InvalidInputError``) or ``"picture"`` (replace them by their visible Control Pictures
    symbol, so they can no longer be mistaken for structure). Tab, newline, CR, VT and FF are text, never touched.
    """

    n_vocab = 256
    pad_id = PAD_ID
    bos_id = BOS_ID
    eos_id = EOS_ID
    name = "utf8-bytes"

    def __init__(self, on_control: str = "keep"):
        self.on_control = _check_choice("on_control", on_control, _ON_CONTROL)
        self._native = True  # numba's kernel where available; False selects the numpy path (tests compare them)

    def __repr__(self) -> str:
        return f"ByteTokenizer(on_control={self.on_control!r})"

    @property
    def vocab(self) -> dict[bytes, int]:
        """Each byte is its own token (the view evaluation tools read)."""
        return {bytes([b]): b for b in range(256)}

    # ---- single texts ----

    def encode(self, text: str, add_special_tokens: bool = True, *, bos: bool | None = None,
               eos: bool | None = None, max_length: int | None = None, as_array: bool = False,
               on_control: str | None = None) -> list[int] | np.ndarray:
        """Ids of one text; with ``max_length`` the text bytes are cut so that BOS/EOS still fit."""
        bos = add_special_tokens if bos is None else bos
        eos = add_special_tokens if eos is None else eos
        text = self._apply_control_policy(_check_text(text), on_control)
        data = _encode_utf8(text)
        if max_length is not None:
            budget = _check_max_length(max_length, int(bos) + int(eos))
            data = data[:budget]
        data = (b"\x02" if bos else b"") + data + (b"\x03" if eos else b"")
        if as_array:
            return np.frombuffer(bytearray(data), dtype=np.uint8)
        return list(data)

    def encode_ordinary(self, text: str) -> list[int]:
        return self.encode(text, add_special_tokens=False)

    def decode_bytes(self, ids) -> bytes:
        arr = np.asarray(ids)
        if arr.ndim != 1:
            raise InvalidInputError(f"expected a 1-D sequence of ids, got shape {arr.shape}")
        if arr.size == 0:
            return b""
        if not np.issubdtype(arr.dtype, np.integer):
            raise InvalidInputError(f"ids must be integers, got {arr.dtype}")
        if arr.dtype != np.uint8:
            bad = np.flatnonzero((arr < 0) | (arr > 255))
            if bad.size:
                raise InvalidInputError(f"id {int(arr[bad[0]])} at position {int(bad[0])} is not a byte (0..255)")
        return arr.astype(np.uint8, copy=False).tobytes()

    def decode(self, ids, errors: str = "replace", skip_special_tokens: bool = False) -> str:
        """Text of ids; ``skip_special_tokens`` drops PAD/BOS/EOS like utf8-tokenizer's decode."""
        data = self.decode_bytes(ids)
        if skip_special_tokens:
            data = data.translate(None, b"\x00\x02\x03")
        try:
            return data.decode("utf-8", errors=errors)
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"ids are not valid UTF-8 ({exc.reason} at byte {exc.start})") from None

    def token_bytes(self, token_id: int) -> bytes:
        if not 0 <= int(token_id) <= 255:
            raise InvalidInputError(f"id {token_id} is not a byte (0..255)")
        return bytes([int(token_id)])

    # ---- batches ----

    def encode_batch(self, texts: Sequence[str], add_special_tokens: bool = True, *,
                     max_length: int | None = None, padding: str = "longest", padding_side: str = "right",
                     on_control: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(input_ids, attention_mask)``: uint8 ``[B, T]`` padded with 0x00 and a bool mask of real bytes.

        With numba, one compiled call copies each text's UTF-8 buffer into its row (no join, no re-encode);
        without it, one join + encode and two row gathers from strided windows. ``padding="max_length"``
        pads every row to ``max_length``. Unlike utf8-tokenizer (whose mask is ``ids != 0``), a NUL byte
        inside a text is masked in, not out.
        """
        _check_choice("padding", padding, ("longest", "max_length"))
        _check_choice("padding_side", padding_side, _PADDING_SIDES)
        if isinstance(texts, str):
            raise InvalidInputError("encode_batch takes a list of texts, got a single string")
        texts = list(texts) if not isinstance(texts, list) else texts
        n = len(texts)
        n_special = 2 if add_special_tokens else 0
        budget = None if max_length is None else _check_max_length(max_length, n_special)
        if padding == "max_length" and max_length is None:
            raise InvalidInputError("padding='max_length' needs max_length")
        policy = self._policy(on_control)
        if n == 0:
            width = max_length if padding == "max_length" else 0
            return np.zeros((0, width), np.uint8), np.zeros((0, width), bool)

        fill = self._native and _native_fill()
        if fill:
            fixed_width = max_length if padding == "max_length" else None
            return _encode_batch_native(fill, texts, n_special, budget, fixed_width, padding_side == "left", policy)
        return _encode_batch_joined(texts, n_special, budget, padding, padding_side, max_length, policy)

    # ---- chat ----

    def apply_chat_template(self, messages: Sequence[Mapping], tools: Sequence[Mapping] | None = None,
                            add_generation_prompt: bool = False, on_control: str | None = None) -> str:
        """The chat as text with control-byte structure; same bytes as utf8-tokenizer's chat template.

        Per message: SOH role LF, then (non-assistant) SO content SI, tool calls as SUB "type name(json)" ESC,
        then ETB LF. Tools come first as DC1 SO "name LF arg: description LF ..." SI. An assistant message
        may carry ``thinking`` (or ``reasoning_content``), written as DC2 thinking DC3 before its content;
        the reference template has no thinking spans and ignores that field.
        """
        policy = self._policy(on_control)

        def user(value, where: str) -> str:
            if not isinstance(value, str):
                raise InvalidInputError(f"{where} must be a string, got {type(value).__name__}")
            return _apply_policy(value, policy, where)

        out: list[str] = []
        if tools:
            for t_index, tool in enumerate(_check_list(tools, "tools")):
                where = f"tools[{t_index}]"
                function = _field(tool, "function", where)
                out.append("\x11\x0e")
                out.append(user(_field(function, "name", where + ".function"), where + ".function.name") + "\n")
                # a tool without parameters lists no arguments (the reference template fails on it)
                parameters = function.get("parameters") or {}
                properties = _field(parameters, "properties", where + ".function.parameters") if parameters else {}
                if not isinstance(properties, Mapping):
                    raise InvalidInputError(f"{where}.function.parameters.properties must be an object")
                for argument, spec in properties.items():
                    description = _field(spec, "description", f"{where} argument {argument!r}")
                    out.append(user(argument, f"{where} argument name") + ": "
                               + user(description, f"{where} argument {argument!r} description") + "\n")
                out.append("\x0f")
        for m_index, message in enumerate(_check_list(messages, "messages")):
            where = f"messages[{m_index}]"
            role = user(_field(message, "role", where), where + ".role")
            wrapped = role != "assistant"
            out.append("\x01" + role + "\n")
            if wrapped:
                out.append("\x0e")
            thinking = message.get("thinking") or message.get("reasoning_content")
            if thinking:
                out.append("\x12" + user(thinking, where + ".thinking") + "\x13")
            content = message.get("content")
            if content:
                out.append(user(content, where + ".content"))
            for c_index, call in enumerate(_check_list(message.get("tool_calls") or [], where + ".tool_calls")):
                call_where = f"{where}.tool_calls[{c_index}]"
                function = _field(call, "function", call_where)
                arguments = _field(function, "arguments", call_where + ".function")
                out.append("\x1a" + user(_field(call, "type", call_where), call_where + ".type") + " "
                           + user(_field(function, "name", call_where + ".function"), call_where + ".function.name")
                           + "(" + _apply_policy(_to_json(arguments, call_where), policy, call_where) + ")\x1b")
            if wrapped:
                out.append("\x0f")
            out.append("\x17\n")
        if add_generation_prompt:
            out.append("\x01assistant\n")
        return "".join(out)

    def encode_chat(self, messages: Sequence[Mapping], tools: Sequence[Mapping] | None = None,
                    add_generation_prompt: bool = False, as_array: bool = False,
                    on_control: str | None = None) -> list[int] | np.ndarray:
        """Ids of the chat template (no BOS/EOS added, as utf8-tokenizer's ``apply_chat_template``)."""
        text = self.apply_chat_template(messages, tools, add_generation_prompt, on_control)
        return self.encode(text, add_special_tokens=False, as_array=as_array, on_control="keep")

    # ---- helpers ----

    def _policy(self, on_control: str | None) -> str:
        return self.on_control if on_control is None else _check_choice("on_control", on_control, _ON_CONTROL)

    def _apply_control_policy(self, text: str, on_control: str | None) -> str:
        return _apply_policy(text, self._policy(on_control), "text")


def _encode_batch_joined(texts: list, n_special: int, budget: int | None, padding: str, padding_side: str,
                         max_length: int | None, policy: str) -> tuple[np.ndarray, np.ndarray]:
    """The numpy path: one join + UTF-8 encode, rows gathered from strided windows over the stream."""
    n = len(texts)
    add_special_tokens = n_special == 2
    data, joined = _join_and_encode(texts)
    stream = np.frombuffer(data, dtype=np.uint8)
    # the stream holds 2n control bytes of our own (BOS, EOS); any more came from the texts
    if policy != "keep" and np.count_nonzero(_IS_CONTROL[stream]) != 2 * n:
        if policy == "error":
            bad = next(i for i, t in enumerate(texts) if _has_control(t))
            _raise_control(texts[bad], f"text {bad}")
        texts = [t.translate(_PICTURES_NO_WHITESPACE) for t in texts]
        data, joined = _join_and_encode(texts)
        stream = np.frombuffer(data, dtype=np.uint8)
    size = len(data)

    # Row i is stream[starts[i]:starts[i+1]] = BOS + text + EOS.
    starts = np.flatnonzero(stream == BOS_ID)
    if len(starts) != n:  # a text contains 0x02 itself: find boundaries from character counts
        starts = _row_starts_from_lengths(texts, stream, size - 2 == len(joined))
    lengths = np.empty(n, dtype=np.int64)
    np.subtract(starts[1:], starts[:-1], out=lengths[:-1])
    lengths[-1] = size - starts[-1]

    first = starts if add_special_tokens else starts + 1
    keep = lengths - 2 + n_special
    cut_rows = None
    if budget is not None:
        text_lengths = lengths - 2
        over = text_lengths > budget
        if over.any():
            keep = np.minimum(text_lengths, budget) + n_special
            if add_special_tokens:
                cut_rows = np.flatnonzero(over)
    width = int(max_length) if padding == "max_length" else int(keep.max())

    # Windows of `width` bytes over the stream with `width` zeros on both sides, so any row start works.
    padded = np.zeros(size + 2 * width, dtype=np.uint8)
    padded[width:width + size] = stream
    windows = np.ndarray((size + width + 1, width), np.uint8, padded, 0, (1, 1))
    template = np.zeros(2 * width, dtype=bool)
    if padding_side == "right":
        ids = windows[first + width]
        template[:width] = True
        mask = np.ndarray((width + 1, width), bool, template, 0, (1, 1))[width - keep]
    else:
        ids = windows[first + keep]
        template[width:] = True
        mask = np.ndarray((width + 1, width), bool, template, 0, (1, 1))[keep]
    np.multiply(ids, mask.view(np.uint8), out=ids)
    if cut_rows is not None:
        eos_col = keep[cut_rows] - 1 if padding_side == "right" else width - 1
        ids[cut_rows, eos_col] = EOS_ID
    return ids, mask


def _native_fill():
    """The compiled batch filler, or None without numba (imported on first use: numba costs ~0.1 s)."""
    global _FILL
    if _FILL is False:
        from ._byte_batch import HAVE_NATIVE, fill_padded

        _FILL = fill_padded if HAVE_NATIVE else None
    return _FILL


_FILL = False  # not looked up yet


def _encode_batch_native(fill_padded, texts: list, n_special: int, budget: int | None, fixed_width: int | None,
                         left: bool, policy: str) -> tuple[np.ndarray, np.ndarray]:
    check = _IS_CONTROL if policy != "keep" else None
    ids, mask, failed, control = fill_padded(texts, n_special, budget, fixed_width, left, check)
    if control >= 0:
        if policy == "error":
            _raise_control(texts[control], f"text {control}")
        texts = [t.translate(_PICTURES_NO_WHITESPACE) for t in texts]
        ids, mask, failed, control = fill_padded(texts, n_special, budget, fixed_width, left, None)
    if failed >= 0:
        bad = texts[failed]
        if not isinstance(bad, str):
            raise InvalidInputError(f"text {failed} is {type(bad).__name__}, not str")
        _encode_utf8(bad, f"text {failed}")
        raise AssertionError("unreachable: the text encodes")  # pragma: no cover
    return ids, mask


def _join_and_encode(texts: list[str]) -> tuple[bytes, str]:
    """BOS text EOS BOS text EOS ... as UTF-8, in one join and one encode."""
    try:
        joined = "\x03\x02".join(texts)
    except TypeError:
        bad = next(i for i, t in enumerate(texts) if not isinstance(t, str))
        raise InvalidInputError(f"text {bad} is {type(texts[bad]).__name__}, not str") from None
    try:
        return ("\x02" + joined + "\x03").encode("utf-8"), joined
    except UnicodeEncodeError:
        bad = next(i for i, t in enumerate(texts) if not _encodable(t))
        _encode_utf8(texts[bad], f"text {bad}")
        raise  # unreachable: _encode_utf8 raised


def _apply_policy(text: str, policy: str, where: str) -> str:
    if policy == "keep" or not _has_control(text):
        return text
    if policy == "error":
        _raise_control(text, where)
    return text.translate(_PICTURES_NO_WHITESPACE)


def _has_control(text: str) -> bool:
    # ASCII-range control bytes are the same in str and UTF-8, so test on a cheap bytes view
    data = text.encode("utf-8", "surrogatepass")
    return bool(_IS_CONTROL[np.frombuffer(data, np.uint8)].any()) if data else False


def _raise_control(text: str, where: str):
    position = next(i for i, ch in enumerate(text) if ord(ch) in CONTROL_BYTES)
    code = ord(text[position])
    role = ControlByte(code).name if code in ControlByte._value2member_map_ else "control byte"
    raise InvalidInputError(f"{where} contains control byte 0x{code:02X} ({role}) at character {position}; "
                            "use on_control='picture' to make it visible text or 'keep' to pass it through")


def _row_starts_from_lengths(texts: list[str], stream: np.ndarray, ascii_only: bool) -> np.ndarray:
    """Byte offset of each row's BOS when texts contain 0x02: from character counts, mapped to bytes."""
    chars = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    chars += 2
    char_starts = np.cumsum(chars) - chars
    if ascii_only:
        return char_starts
    # each character starts with exactly one non-continuation byte
    lead_bytes = np.flatnonzero((stream & 0xC0) != 0x80)
    return lead_bytes[char_starts]


def _encode_utf8(text: str, where: str = "text") -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{where} cannot be encoded as UTF-8 ({exc.reason} at character {exc.start}, "
                                f"{text[exc.start]!r})") from None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _check_text(text) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be str, got {type(text).__name__}")
    return text


def _check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise InvalidInputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _check_max_length(max_length, n_special: int) -> int:
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
        raise InvalidInputError(f"max_length must be an integer, got {max_length!r}")
    if max_length < max(n_special, 1):
        raise InvalidInputError(f"max_length={max_length} leaves no room: need at least {max(n_special, 1)}")
    return int(max_length) - n_special


def _check_list(value, where: str) -> list:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise InvalidInputError(f"{where} must be a list, got {type(value).__name__}")
    return list(value)


def _field(obj, key: str, where: str):
    if not isinstance(obj, Mapping):
        raise InvalidInputError(f"{where} must be an object, got {type(obj).__name__}")
    if key not in obj or obj[key] is None:
        raise InvalidInputError(f"{where} has no {key!r}")
    return obj[key]


def _to_json(value, where: str) -> str:
    # Same rendering as the HF chat-template `tojson` filter the reference uses.
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{where}: arguments are not JSON-serialisable ({exc})") from None
