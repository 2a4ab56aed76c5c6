"""The ``tokenlab`` command line: one click group, commands registered per pipeline stage."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from ..errors import TokenlabError

# Each module defines ``register(group)``. Modules that are not installed yet are skipped.
COMMAND_MODULES = ["core", "bytes", "corpus", "research", "inference", "evaluate", "mixture", "transfer", "surgery"]
COMMAND_MODULES.append("research2")  # issue 13: linguistic, robustness, formatters, dynamic, cross-tokenizer
COMMAND_MODULES.append("serve")  # issue 12 item 6: the local web playground


# Commands that run with only ``core`` imported (start-up time of a one-shot ``tokenlab encode``); any other
# command, ``--help`` or an unknown name imports every module first. ``encode --method X`` for a method another
# module adds calls `load_commands` itself.
FAST_COMMANDS = {"encode": "core", "decode": "core"}


class _Group(click.Group):
    """Turns expected failures into one ``error: ...`` line and exit code 1; imports command modules on demand."""

    def get_command(self, ctx, cmd_name):
        load_commands(FAST_COMMANDS.get(cmd_name))
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx):
        load_commands()
        return super().list_commands(ctx)

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            _click_fail(exc)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            _click_fail(exc)
        except TokenlabError as exc:
            message = str(exc)
            if "allowed_special" in message:  # the library's advice names Python arguments, not flags
                message = message.split(";")[0] + "; this command does not take special-token text"
            _fail(message)
        except RecursionError:
            _fail("input nested too deeply")
        except BrokenPipeError:
            # `tokenlab ... | head`: the reader left; not an error
            sys.stderr.close()
            sys.exit(0)
        except (OSError, UnicodeError) as exc:
            _fail(_describe_os_error(exc))
        except MemoryError:
            _fail("out of memory; try a smaller input or --batch-size")
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"input is not valid UTF-8 ({exc.reason} at byte {exc.start})"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc) or type(exc).__name__


def _click_fail(exc: click.ClickException) -> None:
    """click's usage errors as the one ``error:`` line every other failure prints (exit code kept: 2)."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    click.echo(f"error: {message}", err=True)
    sys.exit(exc.exit_code)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tokenlab")
def main():
    """Train, encode, evaluate, compare and transfer tokenizers."""


_LOADED: set[str] = set()


def load_commands(only: str | None = None) -> None:
    """Register the commands of ``only`` (a module of COMMAND_MODULES), or of all of them."""
    for name in [only] if only else COMMAND_MODULES:
        if name in _LOADED:
            continue
        _LOADED.add(name)
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            importlib.import_module(f"{__name__}.{name}").register(main)
