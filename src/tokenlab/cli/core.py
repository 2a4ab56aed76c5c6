"""Core commands: train, encode, decode, info, viz, convert."""

from __future__ import annotations

import json
import sys

import click

from ..errors import InvalidInputError
from ..pretokenize import PATTERNS
from .common import (
    cluster_option,
    corpus_input_options,
    iter_corpus,
    load,
    progress_option,
    read_text_file,
    text_argument,
    tokenizer_option,
)

FORMATS = ["tokenlab", "hf", "tiktoken"]
# Trainers by name; other modules add theirs (e.g. research algorithms).
ALGORITHMS: dict[str, object] = {}


def _train_bpe(corpus, **kw):
    """Byte-level BPE (merges equal HF tokenizers' BpeTrainer)."""
    from ..train.bpe import train_bpe

    return train_bpe(corpus, **kw)


ALGORITHMS["bpe"] = _train_bpe

# Output formats each algorithm's model can be written in (checked before training; others: not checked).
ALGORITHM_FORMATS = {"bpe": ("tokenlab", "hf", "tiktoken"), "superbpe": ("tokenlab", "hf"),
                     "unigram": ("tokenlab", "hf"), "char-bpe": ("tokenlab", "hf"),
                     "boundless": ("tokenlab",), "scaffold": ("tokenlab",)}


def _pretokenizer_choice(ctx, param, value: str) -> str:
    """A pre-tokenizer name, or a custom regex written as ``regex:PATTERN``. A bare word that is not a name
    is refused (a typo such as ``cl100`` would otherwise be a regex that matches only itself); other values
    that are clearly regexes are still taken as before."""
    import difflib

    import regex

    if value in PATTERNS or value in ("none",):
        return value
    if value.startswith("regex:"):
        value = value[len("regex:"):]
    elif regex.fullmatch(r"[\w.-]+", value):
        close = difflib.get_close_matches(value, list(PATTERNS), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InvalidInputError(f"--pretokenizer: unknown name {value!r}{hint} (names: {', '.join(PATTERNS)}; "
                                "a custom regex is written regex:PATTERN)")
    return value  # the pre-tokenizer itself reports an invalid regex

# Inference methods by name: fn(tokenizer, text, **options) -> list[int]; other modules add theirs.
METHODS: dict[str, object] = {}


def _encode_merge(tok, text, allowed_special=(), **options):
    """Standard BPE: apply merges in rank order."""
    if options:
        raise click.BadParameter(f"method 'merge' takes no options, got {sorted(options)}", param_hint="--option")
    return tok.encode(text, allowed_special=allowed_special)


METHODS["merge"] = _encode_merge


def _parse_options(pairs) -> dict:
    out = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--option")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        out[key.replace("-", "_")] = value
    return out


def register(group: click.Group) -> None:
    for cmd in (train, encode, decode, info, viz, convert, algorithms, methods, demo):
        group.add_command(cmd)


def hf_dir_options(f):
    """Options of an HF tokenizer directory (``--format hf``; giving one writes a directory)."""
    for opt in reversed([
        click.option("--bos", default=None, help="HF dir: the bos token (an existing special token)."),
        click.option("--eos", default=None, help="HF dir: the eos token (an existing special token)."),
        click.option("--pad", default=None, help="HF dir: the padding token (an existing special token)."),
        click.option("--unk", default=None, help="HF dir: the unknown token (an existing special token)."),
        click.option("--add-bos", is_flag=True, help="HF dir: put the bos token before every text."),
        click.option("--add-eos", is_flag=True, help="HF dir: put the eos token after every text."),
        click.option("--chat-template", type=click.Path(dir_okay=False, exists=True), default=None,
                     help="HF dir: a Jinja chat template file for tokenizer_config.json."),
    ]):
        f = opt(f)
    return f


def save_output(tok, output, fmt, bos=None, eos=None, pad=None, unk=None, add_bos=False, add_eos=False,
                chat_template=None) -> str:
    """Write ``tok``. ``--format hf`` writes an HF tokenizer directory when the output is a directory (exists,
    or ends with a slash) or any directory option (--bos, --pad, --chat-template, ...) is given; otherwise
    the bare tokenizer.json file it always wrote."""
    import os

    from ..io import save_tokenizer

    hf_options = {"bos": bos, "eos": eos, "pad": pad, "unk": unk, "add_bos": add_bos, "add_eos": add_eos}
    given = {k: v for k, v in hf_options.items() if v} | ({"chat_template": chat_template} if chat_template else {})
    as_dir = os.path.isdir(output) or str(output).endswith(("/", os.sep)) or bool(given)
    if given and (fmt != "hf" or str(output).endswith(".json")):
        raise click.UsageError(f"{', '.join('--' + k.replace('_', '-') for k in given)} need --format hf and an "
                               "output directory (a path not ending in .json)")
    if fmt == "hf" and as_dir:
        from ..io.hf_dir import write_hf_dir

        template = read_text_file(chat_template) if chat_template else None
        write_hf_dir(tok, output, chat_template=template, **hf_options)
        return f"{output} (HF tokenizer directory)"
    save_tokenizer(tok, output, fmt)
    return str(output)


@click.command()
@click.argument("corpus", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Where to write the tokenizer (a directory for an HF tokenizer directory).")
@click.option("--vocab-size", type=click.IntRange(257), default=8192, show_default=True,
              help="Total size: 256 bytes + merges + special tokens.")
@click.option("--algorithm", default="bpe", show_default=True,
              help="Training algorithm (bpe; more are listed by `tokenlab algorithms`).")
@click.option("--pretokenizer", default="gpt2", show_default=True, callback=_pretokenizer_choice,
              help=f"One of {', '.join(PATTERNS)}, or a custom regex as regex:PATTERN.")
@click.option("--split-digits", type=click.IntRange(1, 32), default=None, help="Isolate runs of at most N digits.")
@click.option("--special", "special_tokens", multiple=True, help="A special token (repeatable).")
@click.option("--min-frequency", type=click.IntRange(0), default=0, show_default=True,
              help="Stop when the best pair is rarer than this.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="tokenlab", show_default=True)
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Processes for counting pretokens (bpe only; default: all cores).")
@cluster_option
@hf_dir_options
@progress_option
@corpus_input_options
def train(corpus, output, vocab_size, algorithm, pretokenizer, split_digits, special_tokens, min_frequency, fmt,
          workers, cluster, progress, **hf_options):
    """Train a tokenizer on corpus files: text, JSONL (.gz/.zst), Parquet, a saved HF datasets directory,
    or (bpe) word-count TSVs (WORD<TAB>COUNT). ``--format hf -o DIR/`` writes an HF tokenizer directory."""

    if any(not s for s in special_tokens):
        raise click.BadParameter("a special token must not be empty", param_hint="--special")
    trainer = ALGORITHMS.get(algorithm.lower())
    if trainer is None:
        raise click.BadParameter(f"unknown algorithm {algorithm!r}; choose from {', '.join(sorted(ALGORITHMS))}",
                                 param_hint="--algorithm")
    formats = ALGORITHM_FORMATS.get(algorithm.lower())
    if formats is not None and fmt not in formats:
        raise InvalidInputError(f"--algorithm {algorithm} cannot be written as --format {fmt} "
                                f"(it can: {', '.join(formats)}); nothing was trained")
    extra = {}
    if workers is not None:
        if algorithm.lower() != "bpe":
            raise click.UsageError("--workers applies to --algorithm bpe only")
        extra["workers"] = workers
    if cluster is not None and algorithm.lower() != "bpe":
        raise click.UsageError("--cluster applies to --algorithm bpe only")
    from ..corpus_io import detect_format

    kinds = {detect_format(p) == "tsv" for p in corpus}
    if True in kinds:
        if kinds != {True}:
            raise click.UsageError("word-count TSVs cannot be mixed with documents")
        if algorithm.lower() != "bpe":
            raise click.UsageError("word-count TSV input works with --algorithm bpe only")
        if cluster is not None:
            raise click.UsageError("--cluster counts documents; word-count TSVs are already counts (drop --cluster)")
        from ..corpus_io import pretoken_counts
        from ..pretokenize import get_pretokenizer
        from ..train.bpe import train_from_counts

        pre = get_pretokenizer(pretokenizer, split_digits)
        tok = train_from_counts(pretoken_counts(corpus, pre), vocab_size, pre, special_tokens, min_frequency,
                                progress)
    else:
        from ..corpus import cluster_map
        from .common import SAFE_CUT_PATTERNS

        docs = iter_corpus(corpus, cut_long_lines=pretokenizer in SAFE_CUT_PATTERNS)  # long lines streamed
        with cluster_map(cluster) as map_fn:
            if map_fn is not None:
                extra["map_fn"] = map_fn
            tok = trainer(docs, vocab_size=vocab_size, pretokenizer=pretokenizer,
                          special_tokens=special_tokens, min_frequency=min_frequency, split_digits=split_digits,
                          progress=progress, **extra)
    written = save_output(tok, output, fmt, **hf_options)
    click.echo(f"trained {_describe(tok)} -> {written}", err=True)
    if len(tok) < vocab_size:
        why = {"char-bpe": "no pair is left whose merge stays within the token length limit (3 characters; 4 from "
                           "--vocab-size 16384) and occurs at least --min-frequency times"}.get(
            algorithm.lower(), "the corpus has no more pairs to merge (at least --min-frequency times)")
        click.echo(f"note: {len(tok)} of the requested {vocab_size} tokens: {why}; a larger or more varied "
                   "corpus gives more", err=True)


def _describe(tok) -> str:
    """The size the user asked for (--vocab-size counts specials), then its parts."""
    specials = len(getattr(tok, "special_tokens", {}) or {})
    parts = f"{len(tok) - specials} ordinary + {specials} special" if specials else f"{len(tok)} ordinary"
    merges = getattr(tok, "merges", None)
    extra = f", {len(merges)} merges" if merges is not None else ""
    return f"{type(tok).__name__} with {len(tok)} tokens ({parts}{extra})"


@click.command()
@tokenizer_option
@click.argument("text", required=False)
@click.option("-i", "--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read text from a file ('-' for stdin).")
@click.option("--allow-special/--no-allow-special", default=False,
              help="Encode special-token strings as special tokens (otherwise they are an error).")
@click.option("--ordinary", is_flag=True, help="Encode special-token strings as plain text.")
@click.option("--output-format", type=click.Choice(["ids", "json", "npy"]), default="ids", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout (npy needs it).")
@click.option("--method", default="merge", show_default=True,
              help="Inference method over the vocabulary (see `tokenlab methods`).")
@click.option("--option", "method_options", multiple=True, metavar="KEY=VALUE",
              help="Option for the method, e.g. --option p=0.1 --option seed=0 (repeatable).")
def encode(tokenizer_path, text, input_path, allow_special, ordinary, output_format, output, method,
           method_options):
    """Encode TEXT (or --input) to token ids."""
    tok = load(tokenizer_path)
    if _can_stream(tok, text, input_path, method, output_format):
        return _encode_stream(tok, input_path, allow_special, ordinary, output_format, output)
    text = text_argument(text, input_path)
    fn = METHODS.get(method.lower())
    if fn is None:  # a method another command module adds (only core is imported for encode)
        from . import load_commands

        load_commands()
        fn = METHODS.get(method.lower())
    if fn is None:
        raise click.BadParameter(f"unknown method {method!r}; choose from {', '.join(sorted(METHODS))}",
                                 param_hint="--method")
    options = _parse_options(method_options)
    if ordinary:
        if method.lower() != "merge":
            raise click.UsageError("--ordinary works with --method merge only")
        ids = tok.encode_ordinary(text)
    else:
        from ..errors import SpecialTokenError

        try:
            ids = fn(tok, text, allowed_special="all" if allow_special else (), **options)
        except SpecialTokenError as exc:
            raise SpecialTokenError(_cli_special_message(exc, method.lower() == "merge")) from None
    _emit_ids(ids, tok, output_format, output)


def _cli_special_message(exc, ordinary_possible: bool = True) -> str:
    """The library's message names Python arguments; say which flags do the same."""
    head = str(exc).split(";")[0]
    tail = ", or --ordinary to encode it as text" if ordinary_possible else ""
    return f"{head}; pass --allow-special to encode it as a special token{tail}"


def _can_stream(tok, text, input_path, method, output_format) -> bool:
    """``encode -i`` of a byte-level BPE with a named pre-tokenizer reads its input in pieces (cut where the
    pre-tokenizer always splits), so a 200 MB single line never sits in memory as one string."""
    from ..tokenizer import Tokenizer
    from .common import SAFE_CUT_PATTERNS

    return (text is None and input_path is not None and method.lower() == "merge" and output_format != "npy"
            and isinstance(tok, Tokenizer) and tok.pretokenizer.name in SAFE_CUT_PATTERNS
            and not any(" " in s for s in tok.special_tokens))


def _encode_stream(tok, input_path, allow_special, ordinary, output_format, output):
    from contextlib import nullcontext

    from ..io.atomic import atomic_path
    from .common import iter_text_chunks

    source = sys.stdin.buffer if input_path == "-" else open(input_path, "rb")  # noqa: SIM115
    with source, (atomic_path(output) if output else nullcontext(None)) as tmp:
        sink = open(tmp, "w", encoding="utf-8") if tmp is not None else sys.stdout  # noqa: SIM115
        try:
            sep, first = (", " if output_format == "json" else " "), True
            sink.write("[" if output_format == "json" else "")
            for chunk in iter_text_chunks(source, input_path, newline=False, space=True):
                if ordinary:
                    ids = tok.encode_ordinary(chunk)
                else:
                    ids = tok.encode(chunk, allowed_special="all" if allow_special else ())
                if ids:
                    sink.write(("" if first else sep) + sep.join(map(str, ids)))
                    first = False
            sink.write("]\n" if output_format == "json" else "\n")
        finally:
            if sink is not sys.stdout:
                sink.close()


def _emit_ids(ids, tok, output_format, output):
    from ..io.atomic import atomic_path, atomic_write_text

    if output_format == "npy":
        if not output:
            raise click.UsageError("--output-format npy needs --output FILE")
        import numpy as np

        dtype = np.uint16 if tok.n_vocab <= 1 << 16 else np.uint32
        with atomic_path(output) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(ids, dtype=dtype))
        return
    body = json.dumps(ids) if output_format == "json" else " ".join(map(str, ids))
    if output:
        atomic_write_text(output, body + "\n")
    else:
        click.echo(body)


def _parse_ids(words) -> list[int]:
    ids = []
    for w in words:
        for part in w.replace(",", " ").replace("[", " ").replace("]", " ").split():
            try:
                ids.append(int(part))
            except ValueError:
                raise InvalidInputError(f"not a token id: {part!r}") from None
    return ids


@click.command()
@tokenizer_option
@click.argument("ids", nargs=-1)
@click.option("-i", "--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read ids (whitespace/comma separated, or .npy) from a file.")
@click.option("--strict", is_flag=True, help="Fail if the ids do not decode to valid UTF-8.")
def decode(tokenizer_path, ids, input_path, strict):
    """Decode token ids back to text."""
    tok = load(tokenizer_path)
    if ids and input_path:
        raise click.UsageError("give IDS or --input, not both")
    if input_path and input_path.endswith(".npy"):
        try:
            import numpy as np

            values = np.load(input_path, allow_pickle=False).ravel().tolist()
        except ValueError as exc:
            raise InvalidInputError(f"{input_path}: not a valid .npy file ({exc})") from None
    elif input_path:
        values = _parse_ids([read_text_file(input_path)])
    elif ids:
        values = _parse_ids(ids)
    else:
        raise click.UsageError("give IDS or --input FILE")
    sys.stdout.write(tok.decode(values, errors="strict" if strict else "replace"))
    sys.stdout.write("\n" if sys.stdout.isatty() else "")


@click.command()
@click.argument("tokenizer_path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(tokenizer_path, as_json):
    """Summarise a tokenizer file."""
    from pathlib import Path

    from ..io import detect_format

    tok = load(tokenizer_path)
    import numpy as np

    lengths = np.array([len(t) for t in tok.vocab])
    shown = 40  # characters of each longest token in the text view (--json gives them whole)
    longest = [t.decode("utf-8", "replace") for t in sorted(tok.vocab, key=len, reverse=True)[:5]]
    if not as_json:
        longest = [t if len(t) <= shown else f"{t[:shown]}… ({len(t)} chars)" for t in longest]
    summary = {
        "file": tokenizer_path,
        "format": detect_format(tokenizer_path) if Path(tokenizer_path).exists() else "built-in",
        "vocab_size": len(tok),
        "ordinary_tokens": len(tok.vocab),
        "merges": len(tok.merges),
        "special_tokens": len(tok.special_tokens),
        "pretokenizer": tok.pretokenizer.name,
        "split_digits": tok.pretokenizer.split_digits,
        "ignore_merges": tok.ignore_merges,
        "any_split": tok.any_split,
        "mean_token_bytes": round(float(lengths.mean()), 3),
        "max_token_bytes": int(lengths.max()),
        "longest_tokens": longest,
        "first_specials": sorted(tok.special_tokens, key=tok.special_tokens.get)[:10],
    }
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        width = max(map(len, summary))
        for k, v in summary.items():
            click.echo(f"{k:<{width}}  {v}")


_COLORS = [(45, 45, 110), (30, 95, 50), (120, 60, 20), (100, 30, 90), (20, 90, 110), (110, 100, 20)]


def render_tokens(tok, ids, color: bool = True) -> str:
    """Tokens with alternating background colours (or ``|`` separators without colour)."""
    from ..viz import token_pieces

    pieces = token_pieces(tok, ids)
    if not color:
        return "|".join(pieces)
    out = []
    for k, p in enumerate(pieces):
        r, g, b = _COLORS[k % len(_COLORS)]
        out.append(f"\x1b[48;2;{r};{g};{b}m\x1b[97m{p}\x1b[0m")
    return "".join(out)


@click.command()
@tokenizer_option
@click.argument("text", required=False)
@click.option("-i", "--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--color/--no-color", default=None, help="Force colour on/off (default: when a terminal).")
@click.option("--ids", "show_ids", is_flag=True, help="Also print the ids.")
def viz(tokenizer_path, text, input_path, color, show_ids):
    """Show token boundaries in colour."""
    tok = load(tokenizer_path)
    text = text_argument(text, input_path)
    try:
        ids = tok.encode(text, allowed_special="all")
    except TypeError:  # tokenizers without special tokens (the byte tokenizer)
        ids = tok.encode(text)
    if color is None:
        color = sys.stdout.isatty()
    click.echo(render_tokens(tok, ids, color=color), color=color)
    click.echo(f"{len(ids)} tokens, {len(text.encode('utf-8'))} bytes, "
               f"{len(text.encode('utf-8')) / max(1, len(ids)):.2f} bytes/token", err=True)
    if show_ids:
        click.echo(" ".join(map(str, ids)))


@click.command()
@click.argument("tokenizer_path", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True)
@hf_dir_options
def convert(tokenizer_path, output, fmt, **hf_options):
    """Convert a tokenizer file to another format. ``--format hf`` to a directory (or with --bos/--eos/--pad/
    --unk/--chat-template) writes an HF tokenizer directory (tokenizer.json, tokenizer_config.json,
    special_tokens_map.json) for ``transformers.AutoTokenizer``; ``--format tiktoken`` also writes
    NAME.tiktoken.json (pattern, special tokens) that tokenlab reads back."""
    written = save_output(load(tokenizer_path), output, fmt, **hf_options)
    click.echo(f"wrote {written} ({fmt})", err=True)


@click.command()
def algorithms():
    """List training algorithms."""
    for name in sorted(ALGORITHMS):
        doc = (getattr(ALGORITHMS[name], "__doc__", "") or "").strip().splitlines()
        click.echo(f"{name:<16} {doc[0] if doc else ''}")


@click.command()
def methods():
    """List inference methods for `tokenlab encode --method`."""
    for name in sorted(METHODS):
        doc = (getattr(METHODS[name], "__doc__", "") or "").strip().splitlines()
        click.echo(f"{name:<16} {doc[0] if doc else ''}")


@click.command()
@click.option("--vocab-size", type=click.IntRange(300), default=2000, show_default=True)
@click.option("--out-dir", type=click.Path(file_okay=False), default="build/demo", show_default=True,
              help="Where to write the trained tokenizer (tokenlab json and HF tokenizer.json).")
@progress_option
def demo(vocab_size, out_dir, progress):
    """Train BPE on the small embedded corpus and print a summary."""
    from ..demo import run_demo

    run_demo(vocab_size=vocab_size, progress=progress, out_dir=out_dir)
