"""`tokenlab bytes ...`: the UTF-8 byte tokenizer (ids are bytes, structure is C0 control bytes)."""

from __future__ import annotations

import json
import sys

import click
import numpy as np

from ..errors import InvalidInputError
from .common import read_text_file, text_argument

_ON_CONTROL = click.option(
    "--on-control", type=click.Choice(["keep", "error", "picture"]), default="keep", show_default=True,
    help="Control bytes already in the text: pass through (as utf8-tokenizer), fail, or make them visible symbols.")
_SPECIAL = click.option("--special/--no-special", "add_special", default=True, show_default=True,
                        help="Wrap each text in BOS (0x02) ... EOS (0x03).")
_INPUT = click.option("-i", "--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True),
                      help="Read text from a file ('-' for stdin).")


def register(group: click.Group) -> None:
    group.add_command(bytes_group)


@click.group("bytes")
def bytes_group():
    """UTF-8 byte tokenizer: ids 0-255, control bytes for structure (the 'Back to Bytes' scheme)."""


@bytes_group.command("encode")
@click.argument("text", required=False)
@_INPUT
@_SPECIAL
@click.option("--max-length", type=int, default=None, help="Cut the text so the ids (with BOS/EOS) fit.")
@_ON_CONTROL
@click.option("--output-format", type=click.Choice(["ids", "json", "npy"]), default="ids", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout (npy needs it).")
def encode_cmd(text, input_path, add_special, max_length, on_control, output_format, output):
    """Byte ids of TEXT (or of the --input file)."""
    from ..byte_tokenizer import ByteTokenizer

    text = text_argument(text, input_path)
    ids = ByteTokenizer(on_control).encode(text, add_special, max_length=max_length, as_array=True)
    _emit(ids, output_format, output)


@bytes_group.command("decode")
@click.argument("ids", nargs=-1)
@click.option("-i", "--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read ids (whitespace/comma separated) from a file.")
@click.option("--skip-special", is_flag=True, help="Drop PAD/BOS/EOS bytes.")
@click.option("--visualize", is_flag=True, help="Show control bytes as visible symbols.")
@click.option("--strict", is_flag=True, help="Fail if the bytes are not valid UTF-8.")
def decode_cmd(ids, input_path, skip_special, visualize, strict):
    """Text of byte ids."""
    from ..byte_tokenizer import ByteTokenizer, visualize_control_bytes

    if ids and input_path:
        raise click.UsageError("give IDS or --input, not both")
    if not ids and not input_path:
        raise click.UsageError("give IDS or --input FILE")
    words = [read_text_file(input_path)] if input_path else list(ids)
    values = []
    for word in words:
        for part in word.replace(",", " ").replace("[", " ").replace("]", " ").split():
            try:
                values.append(int(part))
            except ValueError:
                raise InvalidInputError(f"not a byte id: {part!r}") from None
    text = ByteTokenizer().decode(values, errors="strict" if strict else "replace",
                                  skip_special_tokens=skip_special)
    click.echo(visualize_control_bytes(text) if visualize else text)


@bytes_group.command("batch")
@click.option("-i", "--input", "input_path", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Text file: one text per line ('-' for stdin).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output .npz file.")
@_SPECIAL
@click.option("--max-length", type=int, default=None, help="Cut each line so its ids fit in this many bytes.")
@click.option("--pad-to-max-length", is_flag=True, help="Pad every row to --max-length, not to the longest line.")
@click.option("--padding-side", type=click.Choice(["right", "left"]), default="right", show_default=True)
@_ON_CONTROL
def batch_cmd(input_path, output, add_special, max_length, pad_to_max_length, padding_side, on_control):
    """Encode each line to a padded uint8 matrix; write input_ids, attention_mask (and lengths) as .npz."""
    from ..byte_tokenizer import ByteTokenizer
    from ..io.atomic import atomic_path

    if pad_to_max_length and max_length is None:
        raise click.UsageError("--pad-to-max-length needs --max-length")
    text = read_text_file(input_path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    ids, mask = ByteTokenizer(on_control).encode_batch(
        lines, add_special, max_length=max_length, padding="max_length" if pad_to_max_length else "longest",
        padding_side=padding_side)
    with atomic_path(output) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, input_ids=ids, attention_mask=mask, lengths=mask.sum(axis=1, dtype=np.int64))
    click.echo(f"{ids.shape[0]} lines -> input_ids {ids.shape[0]}x{ids.shape[1]} uint8, "
               f"{int(mask.sum())} real bytes, written to {output}", err=True)


@bytes_group.command("chat")
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--tools", "tools_path", type=click.Path(dir_okay=False), help="JSON file with a list of tools.")
@click.option("--generation-prompt/--no-generation-prompt", default=False, show_default=True,
              help="End with the assistant header so a model continues as assistant.")
@click.option("--output-format", type=click.Choice(["visual", "ids", "json", "raw"]), default="visual",
              show_default=True, help="visual: control bytes as symbols; raw: the template bytes as is.")
@_ON_CONTROL
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def chat_cmd(path, tools_path, generation_prompt, output_format, on_control, output):
    """Render a chat (JSON: a list of messages, or {"messages": [...], "tools": [...]}) with the byte template."""
    from ..byte_tokenizer import ByteTokenizer, visualize_control_bytes
    from ..io.atomic import atomic_write_bytes, atomic_write_text

    payload = _read_json(path)
    tools = None
    if isinstance(payload, dict):
        if "messages" not in payload:
            raise InvalidInputError(f"{path}: expected a list of messages or an object with 'messages'")
        tools = payload.get("tools")
        payload = payload["messages"]
    if tools_path:
        tools = _read_json(tools_path)
    tok = ByteTokenizer(on_control)
    text = tok.apply_chat_template(payload, tools=tools, add_generation_prompt=generation_prompt)
    if output_format == "raw":
        data = text.encode("utf-8")
        if output:
            atomic_write_bytes(output, data)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return
    if output_format == "visual":
        body = visualize_control_bytes(text)
    else:
        ids = list(text.encode("utf-8"))
        body = json.dumps(ids) if output_format == "json" else " ".join(map(str, ids))
    if output:
        atomic_write_text(output, body + "\n")
    else:
        click.echo(body)


@bytes_group.command("viz")
@click.argument("text", required=False)
@_INPUT
@click.option("--whitespace", is_flag=True, help="Also show tab, newline, CR, VT and FF as symbols.")
def viz_cmd(text, input_path, whitespace):
    """Show the control bytes in TEXT as visible symbols (␂ BOS, ␃ EOS, ␁ message start, ...)."""
    from ..byte_tokenizer import visualize_control_bytes

    click.echo(visualize_control_bytes(text_argument(text, input_path), include_whitespace=whitespace))


def _read_json(path):
    raw = read_text_file(path)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def _emit(ids: np.ndarray, output_format: str, output: str | None) -> None:
    from ..io.atomic import atomic_path, atomic_write_text

    if output_format == "npy":
        if not output:
            raise click.UsageError("--output-format npy needs --output FILE")
        with atomic_path(output) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, ids.astype(np.uint8, copy=False))
        return
    values = ids.tolist()
    body = json.dumps(values) if output_format == "json" else " ".join(map(str, values))
    if output:
        atomic_write_text(output, body + "\n")
    else:
        click.echo(body)
