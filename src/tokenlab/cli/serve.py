"""``tokenlab serve``: the local web playground (tokenlab.serve)."""

from __future__ import annotations

import errno

import click

from ..errors import InvalidInputError

DEFAULT_TOKENIZERS = ("cl100k", "o200k")


def register(group: click.Group) -> None:
    group.add_command(serve)


@click.command()
@click.option("-t", "--tokenizer", "specs", multiple=True, metavar="TOKENIZER",
              help="A tokenizer file or a short name (cl100k, o200k, tekken, mistral-sp, utf8-bytes, "
                   f"train:CORPUS[:VOCAB]). Repeatable. Default: {', '.join(DEFAULT_TOKENIZERS)}.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port on 127.0.0.1; 0 picks a free one.")
@click.option("--max-chars", type=click.IntRange(1), default=None, metavar="N",
              help="Longest text the page accepts, in characters (default 200,000).")
@click.option("--log", is_flag=True, help="Log every request to stderr.")
def serve(specs, port, max_chars, log):
    """Start the playground: a local page where typed or pasted text is tokenized live, side by side.

    Shows each tokenizer's coloured tokens, ids, token count and bytes/token, and builds the compare report on
    the typed text or a shipped corpus. Listens on 127.0.0.1 only; stop it with Ctrl+C.

    Example: tokenlab serve -t cl100k -t tekken -t mine.json -t train:prose
    """
    from ..serve import DEFAULT_MAX_CHARS, Playground, make_server_for
    from .evaluate import _load_all

    specs = specs or DEFAULT_TOKENIZERS
    click.echo(f"loading {', '.join(specs)} ...", err=True)
    playground = Playground(_load_all(specs), max_chars=max_chars or DEFAULT_MAX_CHARS)
    try:
        server = make_server_for(playground, port=port, log=log)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInputError(f"port {port} is in use; pick another with --port (0 = any free port)") from None
        raise
    with server:
        click.echo(f"tokenlab playground: http://127.0.0.1:{server.server_port}/  (Ctrl+C stops it)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
