"""Readable token pieces for terminals and HTML reports."""

from __future__ import annotations


def token_pieces(tok, ids) -> list[str]:
    """One display string per token. A token that ends mid-character shows its bytes as
    ``<xx>`` hex unless joining it with its neighbours completes the character; control
    characters are shown as their Unicode control pictures."""
    out: list[str] = []
    pending = b""
    if not hasattr(tok, "token_bytes"):  # e.g. Huffman word codes: a symbol has no bytes of its own
        from .errors import InvalidInputError

        raise InvalidInputError(f"{type(tok).__name__} has no per-token bytes to show")
    for i in ids:
        data = pending + tok.token_bytes(int(i))
        try:
            text = data.decode("utf-8")
            pending = b""
        except UnicodeDecodeError as exc:
            if exc.reason == "unexpected end of data" and exc.start > 0:
                text = data[: exc.start].decode("utf-8", "replace")
                pending = data[exc.start:]
            elif exc.reason == "unexpected end of data":
                pending = data
                continue
            else:
                text = "".join(f"<{b:02x}>" for b in data)
                pending = b""
        out.append(_visible(text))
    if pending:
        out.append("".join(f"<{b:02x}>" for b in pending))
    return out


def _visible(text: str) -> str:
    return "".join(chr(0x2400 + ord(c)) if ord(c) < 0x20 and c not in "\n" else ("⏎\n" if c == "\n" else c)
                   for c in text)
