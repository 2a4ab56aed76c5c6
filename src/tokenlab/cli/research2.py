"""Research tools of issue 13: linguistic evaluation, robustness, data formatters, dynamic and cross-tokenizer tools."""

from __future__ import annotations

import json

import click

from ..errors import InvalidInputError
from .common import read_text_file
from .evaluate import _load_all  # one loader of tokenizer specs (short names, files, train:...)


def register(group: click.Group) -> None:
    import tokenlab.models  # noqa: F401 - registers our JSON formats for every loader

    for cmd in _COMMANDS:
        group.add_command(cmd)


_COMMANDS: list[click.Command] = []


def _command(*args, **kwargs):
    def wrap(fn):
        cmd = click.command(*args, **kwargs)(fn)
        _COMMANDS.append(cmd)
        return cmd

    return wrap


def _emit(body: str, output: str | None) -> None:
    if output:
        from ..io.atomic import atomic_write_text

        atomic_write_text(output, body if body.endswith("\n") else body + "\n")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(body.rstrip("\n"))


def _lines(path: str) -> list[str]:
    lines = [x for x in read_text_file(path).splitlines() if x.strip()]
    if not lines:
        raise InvalidInputError(f"{path}: no text")
    return lines


def _django(langs) -> dict[str, list[str]]:
    """Django strings of ``langs`` (aligned); English alone is taken from its alignment with German."""
    from ..evaluate.data import django_parallel

    langs = list(dict.fromkeys(langs))
    extra = ["de"] if langs == ["en"] else []
    par = django_parallel(langs + extra)
    return {lang: par[lang] for lang in langs}


# ---------------------------------------------------------------------------- item 1
@_command("morph-eval")
@click.argument("tokenizers", nargs=-1, required=True, metavar="TOKENIZER...")
@click.option("-l", "--language", "languages", default="tr", show_default=True, metavar="LANG,LANG,...",
              help="Languages with an analyser: tr (zeyrek), ru (pymorphy3), ko (kiwipiepy), ja (fugashi), "
                   "zh_Hans (jieba).")
@click.option("--analyser", default=None,
              help="Analyser instead of the language's own: zeyrek, pymorphy3, kiwi, fugashi, jieba, morfessor.")
@click.option("--text", "text_path", type=click.Path(dir_okay=False),
              help="Text to evaluate on, one sentence per line (default: the Django translations of the language).")
@click.option("--gold", "gold_path", type=click.Path(dir_okay=False),
              help="Hand segmentation instead of an analyser: words with '+' between morphemes, e.g. ev+ler+den.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the table here.")
def morph_eval(tokenizers, languages, analyser, text_path, gold_path, as_json, output):
    """Morpheme-boundary precision/recall/F1, %TR and %Pure of each TOKENIZER against a morphological analyser.

    Example: tokenlab morph-eval cl100k mine.json -l tr,ru
    """
    from ..evaluate.linguistic import MarkedGold, analyser_for, morph_scores

    toks = _load_all(tokenizers)
    rows = []
    if gold_path:
        gold, text = MarkedGold.from_marked(read_text_file(gold_path))
        sources = [("gold", gold, text.splitlines())]
    else:
        langs = [x.strip() for x in languages.split(",") if x.strip()]
        if not langs:
            raise click.BadParameter("empty language list", param_hint="--language")
        sources = []
        for lang in langs:
            if text_path:
                texts = _lines(text_path)
            else:
                from ..evaluate.data import django_parallel

                texts = django_parallel([lang])[lang]
            spec = analyser or lang
            if spec == "morfessor":
                spec = f"morfessor:{lang}"
            sources.append((lang, analyser_for(spec, texts), texts))
    for lang, an, texts in sources:
        for name, tok in toks.items():
            rows.append({"tokenizer": name, "language": lang, "analyser": an.name,
                         **morph_scores(tok, texts, an).to_dict()})
    if as_json:
        _emit(json.dumps(rows, indent=1, ensure_ascii=False), output)
        return
    head = (f"{'tokenizer':24} {'lang':8} {'analyser':10} {'P':>6} {'R':>6} {'F1':>6} {'%TR':>6} {'%Pure':>6} "
            f"{'words':>6}")
    body = [head] + [f"{r['tokenizer'][:24]:24} {r['language']:8} {r['analyser']:10} {r['precision']:6.3f} "
                     f"{r['recall']:6.3f} {r['f1']:6.3f} {r['tr_percent']:6.1f} {r['pure_percent']:6.1f} "
                     f"{r['words']:6d}" for r in rows]
    _emit("\n".join(body), output)


# ---------------------------------------------------------------------------- item 4
def _table(rows: list[dict], keys: list[tuple[str, str, str]]) -> str:
    """Fixed-width text table; keys are (dict key, header, format)."""
    cells = [[format(r[k], f) if f else str(r[k]) for k, _, f in keys] for r in rows]
    widths = [max(len(h), *(len(c[j]) for c in cells)) if cells else len(h) for j, (_, h, _) in enumerate(keys)]
    lines = ["  ".join(h.rjust(w) if j else h.ljust(w) for j, ((_, h, _), w) in enumerate(zip(keys, widths)))]
    lines += ["  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths))) for row in cells]
    return "\n".join(lines)


@_command("drift")
@click.argument("tokenizers", nargs=-1, required=True, metavar="TOKENIZER...")
@click.option("--code", "code_path", type=click.Path(dir_okay=False),
              help="Python source to take functions from (default: the standard library).")
@click.option("--text", "text_path", type=click.Path(dir_okay=False),
              help="Text, one sample per line (default: Django translations of --languages).")
@click.option("--languages", default="en,de,ru,el,tr", show_default=True, metavar="LANG,LANG,...")
@click.option("--samples", type=click.IntRange(1), default=100, show_default=True, help="Code functions to use.")
@click.option("--code-rewrites", default=None, help="Comma-separated subset of the code rewrites.")
@click.option("--text-rewrites", default=None, help="Comma-separated subset of the text rewrites.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the table here.")
def drift_cmd(tokenizers, code_path, text_path, languages, samples, code_rewrites, text_rewrites, as_json, output):
    """How often and how far each TOKENIZER's tokens move under meaning-preserving rewrites (TokDrift).

    Code rewrites are checked with ast.dump; text rewrites read the same once normalised. Columns:
    samples the rewrite applied to, share whose ids changed, mean token edit distance, its share of the
    original length, mean change in token count, and spillover (tokens over unchanged text that changed).
    """
    from ..evaluate.robustness import code_samples, drift_suite

    toks = _load_all(tokenizers)
    if code_path:
        code = code_samples([read_text_file(code_path)], max_samples=samples)
    else:
        from ..evaluate.data import stdlib_code

        code = code_samples(stdlib_code(1_000_000), max_samples=samples)
    if text_path:
        texts = _lines(text_path)
    else:
        langs = [x.strip() for x in languages.split(",") if x.strip()]
        texts = [t for lines in _django(langs or ["en"]).values() for t in lines]
    split = lambda v: None if v is None else [x.strip() for x in v.split(",") if x.strip()]  # noqa: E731
    result = drift_suite(toks, code=code, texts=texts, code_rewrites=split(code_rewrites),
                         text_rewrites=split(text_rewrites))
    if as_json:
        _emit(json.dumps(result, indent=1), output)
        return
    keys = [("rewrite", "rewrite", ""), ("samples", "samples", "d"), ("drift_rate", "changed", ".1%"),
            ("edit_distance", "edit dist", ".2f"), ("relative_distance", "rel. dist", ".3f"),
            ("token_delta", "Δ tokens", "+.2f"), ("spillover", "spillover", ".2%")]
    _emit("\n\n".join(f"{name}\n{_table(rows, keys)}" for name, rows in result.items()), output)


@_command("script-audit")
@click.argument("tokenizer", metavar="TOKENIZER")
@click.option("--languages", default=None, metavar="LANG,LANG,...",
              help="Django languages (default: the 24 of `tokenlab compare`).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the table here.")
@click.option("--embeddings", type=click.Path(dir_okay=False),
              help="(Un)embedding matrix (.npy or .safetensors): also count under-trained tokens (Magikarp).")
@click.option("--known-unused", default=None, metavar="ID,ID,...",
              help="Ids known to be unused, to calibrate --embeddings (default: the unreachable tokens).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def script_audit_cmd(tokenizer, languages, as_json, output, embeddings, known_unused, progress):
    """Per language: vocabulary tokens of its scripts, how many are unreachable, unused by its text, under-trained."""
    from ..evaluate.data import DEFAULT_LANGUAGES
    from ..evaluate.health import load_embeddings
    from ..evaluate.report import reference_tokenizer
    from ..evaluate.robustness import script_audit

    langs = [x.strip() for x in languages.split(",") if x.strip()] if languages else DEFAULT_LANGUAGES
    known = None
    if known_unused:
        try:
            known = [int(x) for x in known_unused.split(",") if x.strip()]
        except ValueError:
            raise click.BadParameter("expected comma-separated integer ids", param_hint="--known-unused") from None
    matrix = load_embeddings(embeddings) if embeddings else None
    rows = script_audit(reference_tokenizer(tokenizer), _django(langs), progress=progress,
                        embeddings=matrix, known_unused=known)
    if as_json:
        _emit(json.dumps(rows, indent=1, ensure_ascii=False), output)
        return
    keys = [("language", "language", ""), ("scripts", "scripts", ""), ("script_tokens", "tokens", "d"),
            ("vocab_share", "of vocab", ".2%"), ("unreachable", "unreachable", "d"),
            ("unused_on_text", "unused on text", "d"), ("text_tokens_in_script", "text in script", ".1%")]
    if matrix is not None:
        keys.append(("undertrained", "under-trained", "d"))
    _emit(_table(rows, keys), output)


# ---------------------------------------------------------------------------- item 7
def _write_jsonl(path: str, rows) -> int:
    from ..io.atomic import atomic_write_text

    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    if not lines:
        raise InvalidInputError("no examples to write")
    atomic_write_text(path, "\n".join(lines) + "\n")
    return len(lines)


@_command("fim-data")
@click.argument("corpus", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-t", "--tokenizer", "tokenizer_spec", required=True, help="Tokenizer file or shipped name (cl100k).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="JSONL, one example a line.")
@click.option("--granularity", type=click.Choice(["line", "token"]), default="line", show_default=True,
              help="Move the cuts to whole lines then token boundaries (FIM-SE), or to token boundaries only.")
@click.option("--rate", type=click.FloatRange(0, 1), default=1.0, show_default=True, help="Share of documents used.")
@click.option("--per-doc", type=click.IntRange(1), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--eot-id", type=int, default=None, help="Id appended to every target (end of text).")
def fim_data(corpus, tokenizer_spec, output, granularity, rate, per_doc, seed, eot_id):
    """Character-level fill-in-the-middle examples without sub-tokens at the cuts (FIM-SE); each file is a document."""
    from ..evaluate.report import reference_tokenizer
    from ..train.formatters import fim_dataset

    tok = reference_tokenizer(tokenizer_spec)
    docs = [read_text_file(p) for p in corpus]
    n = _write_jsonl(output, (e.to_dict() for e in fim_dataset(tok, docs, rate=rate, seed=seed, per_doc=per_doc,
                                                                granularity=granularity, eot_id=eot_id)))
    click.echo(f"wrote {n} examples to {output}", err=True)


@_command("spell-data")
@click.option("-t", "--tokenizer", "tokenizer_spec", required=True, help="Tokenizer file or shipped name (cl100k).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="JSONL, one token a line.")
@click.option("--task", type=click.Choice(["spell", "reverse"]), default="spell", show_default=True)
@click.option("--separator", default="", help="Text between the characters of the answer.")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many tokens (lowest ids first).")
def spell_data(tokenizer_spec, output, task, separator, limit):
    """Token-internal-structure data: each token's characters in order (spell) or reversed, as ids."""
    import itertools

    from ..evaluate.report import reference_tokenizer
    from ..train.formatters import spelling_examples

    tok = reference_tokenizer(tokenizer_spec)
    rows = ({"token_id": e.token_id, "token": e.token, "answer": e.answer, "answer_ids": e.answer_ids}
            for e in spelling_examples(tok, task=task, separator=separator))
    n = _write_jsonl(output, itertools.islice(rows, limit))
    click.echo(f"wrote {n} examples to {output}", err=True)


# ---------------------------------------------------------------------------- item 5
@_command("dynamic")
@click.argument("tokenizers", nargs=-1, required=True, metavar="TOKENIZER...")
@click.option("--languages", default="en,de,ru,tr,el,ar,hi,ja", show_default=True, metavar="LANG,LANG,...",
              help="Django languages to measure (each string is one sequence).")
@click.option("--text", "text_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Also measure this file, one sequence per line (repeatable).")
@click.option("--code/--no-code", default=True, show_default=True, help="Also measure stdlib functions.")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--across-words", is_flag=True, help="Let temporary tokens span words (the paper merges within words).")
@click.option("--max-merges", type=click.IntRange(0), default=None, help="At most this many merges per batch.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def dynamic_cmd(tokenizers, languages, text_paths, code, batch_size, across_words, max_merges, as_json):
    """Sequence-length reduction from batch-level dynamic merging of frequent subword pairs (Feher et al. 2025)."""
    from ..transfer.dynamic import length_reduction

    corpora: dict[str, list[str]] = {}
    langs = [x.strip() for x in languages.split(",") if x.strip()]
    if langs:
        corpora.update(_django(langs))
    for p in text_paths:
        corpora[p] = _lines(p)
    if code:
        from ..evaluate.data import stdlib_code
        from ..evaluate.robustness import code_samples

        corpora["code"] = code_samples(stdlib_code(1_000_000), max_samples=256)
    if not corpora:
        raise InvalidInputError("nothing to measure: give --languages, --text or --code")
    toks = _load_all(tokenizers)
    rows = [{"tokenizer": name, "corpus": c, **length_reduction(tok, texts, batch_size=batch_size,
                                                                within_words=not across_words, max_merges=max_merges)}
            for name, tok in toks.items() for c, texts in corpora.items()]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    keys = [("tokenizer", "tokenizer", ""), ("corpus", "corpus", ""), ("tokens", "tokens", "d"),
            ("dynamic_tokens", "dynamic", "d"), ("reduction", "reduction", ".1%"),
            ("new_tokens_per_batch", "new/batch", ".1f")]
    click.echo(_table(rows, keys))


# ---------------------------------------------------------------------------- item 6
@_command("align")
@click.argument("text", required=False)
@click.option("-a", "tok_a", required=True, help="First tokenizer (file or shipped name).")
@click.option("-b", "tok_b", required=True, help="Second tokenizer.")
@click.option("--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True), help="Read the text here.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def align_cmd(text, tok_a, tok_b, input_path, as_json):
    """Align two tokenizations of TEXT into chunks that spell the same bytes (ALM's chunks)."""
    from ..evaluate.report import reference_tokenizer
    from ..transfer.cross import align_tokenizations, alignment_summary
    from .common import text_argument

    text = text_argument(text, input_path)
    a, b = reference_tokenizer(tok_a), reference_tokenizer(tok_b)
    spans = align_tokenizations(a, b, text)
    data = text.encode("utf-8")
    ids_a, ids_b = a.encode_ordinary(text) if hasattr(a, "encode_ordinary") else a.encode(text), None
    ids_b = b.encode_ordinary(text) if hasattr(b, "encode_ordinary") else b.encode(text)
    rows = [{"start": s.start, "end": s.end, "text": data[s.start:s.end].decode("utf-8", "replace"),
             "a": list(ids_a[s.a[0]:s.a[1]]), "b": list(ids_b[s.b[0]:s.b[1]])} for s in spans]
    summary = alignment_summary(spans)
    if as_json:
        click.echo(json.dumps({"summary": summary, "spans": rows}, ensure_ascii=False))
        return
    for r in rows:
        click.echo(f"{r['start']:>6}-{r['end']:<6} {r['text']!r:30} A={r['a']} B={r['b']}")
    click.echo(f"{summary['chunks']} chunks, {summary['one_to_one']:.1%} one-to-one", err=True)


@_command("ensemble-bytes")
@click.option("-a", "tok_a", required=True, help="First tokenizer (file or shipped name).")
@click.option("-b", "tok_b", required=True, help="Second tokenizer.")
@click.option("--train", "train_paths", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="Text to fit one token bigram LM per tokenizer on (repeatable).")
@click.option("--prefix", required=True, help="Text whose next byte is predicted.")
@click.option("--weight", type=click.FloatRange(0, 1), default=0.5, show_default=True, help="Weight of model A.")
@click.option("--mode", type=click.Choice(["mixture", "average"]), default="mixture", show_default=True)
@click.option("--generate", "n_bytes", type=click.IntRange(0), default=0, help="Also continue greedily N bytes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ensemble_bytes(tok_a, tok_b, train_paths, prefix, weight, mode, n_bytes, as_json):
    """Ensemble two token LMs with different vocabularies at the byte level (exact next-byte probabilities).

    The LMs are token bigram models fitted here on --train (a stand-in for real models, which the Python API
    takes as any context -> next-token-probabilities function)."""
    from ..evaluate.report import reference_tokenizer
    from ..transfer.byte_probs import ByteLevelModel
    from ..transfer.cross import BigramLM, ByteEnsemble

    texts = [t for p in train_paths for t in _lines(p)]
    models = []
    for spec in (tok_a, tok_b):
        tok = reference_tokenizer(spec)
        models.append(ByteLevelModel(BigramLM(tok, texts), tok, valid_only=True))
    ens = ByteEnsemble(models, weights=[weight, 1 - weight], mode=mode)
    nb = ens.next_byte(prefix)
    parts = [m.next_byte(prefix) for m in models]
    show = lambda n: [[b.decode("latin-1"), p] for b, p in n.top(5)]  # noqa: E731
    out = {"prefix": prefix, "top": show(nb), "a": show(parts[0]), "b": show(parts[1])}
    if n_bytes:
        out["continuation"] = ens.generate(prefix, max_bytes=n_bytes).decode("utf-8", "replace")
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    for key in ("top", "a", "b"):
        click.echo(f"{key:4} " + "  ".join(f"{c!r}:{p:.3f}" for c, p in out[key]))
    if n_bytes:
        click.echo(f"continuation: {out['continuation']!r}")


# ---------------------------------------------------------------------------- item 8
def _int_lines(path: str) -> list[list[int]]:
    out = []
    for n, line in enumerate(read_text_file(path).splitlines(), start=1):
        try:
            out.append([int(x) for x in line.replace(",", " ").split()])
        except ValueError:
            raise InvalidInputError(f"{path}:{n}: expected integers separated by spaces or commas") from None
    return out


@click.group("symbol-bpe")
def symbol_bpe():
    """BPE over integer sequences (one sequence per line): symbolic music events, DNA, actions."""


_COMMANDS.append(symbol_bpe)


@symbol_bpe.command("train")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--vocab-size", type=click.IntRange(1), required=True, help="Alphabet + merges.")
@click.option("--base-size", type=click.IntRange(1), default=None, help="Alphabet size (default: max symbol + 1).")
@click.option("--min-frequency", type=click.IntRange(1), default=2, show_default=True)
@click.option("--max-len", type=click.IntRange(2), default=None, help="Longest merged symbol, in base symbols.")
def symbol_bpe_train(input_path, output, vocab_size, base_size, min_frequency, max_len):
    """Learn merges from INPUT and write a symbol-BPE model (JSON)."""
    from ..train.symbol_stream import train_symbol_bpe

    model = train_symbol_bpe(_int_lines(input_path), vocab_size, base_size=base_size, min_frequency=min_frequency,
                             max_len=max_len)
    model.save(output)
    click.echo(f"wrote {output} ({model.base_size} base symbols, {len(model.merges)} merges)", err=True)


@symbol_bpe.command("encode")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-m", "--model", "model_path", required=True, type=click.Path(dir_okay=False))
def symbol_bpe_encode(input_path, model_path):
    """Print each INPUT sequence with the merges applied."""
    from ..train.symbol_stream import SymbolBPE

    model = SymbolBPE.load(model_path)
    for seq in _int_lines(input_path):
        click.echo(" ".join(map(str, model.encode(seq))))


@symbol_bpe.command("decode")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-m", "--model", "model_path", required=True, type=click.Path(dir_okay=False))
def symbol_bpe_decode(input_path, model_path):
    """Print each INPUT sequence expanded back to base symbols."""
    from ..train.symbol_stream import SymbolBPE

    model = SymbolBPE.load(model_path)
    for seq in _int_lines(input_path):
        click.echo(" ".join(map(str, model.decode(seq))))


@symbol_bpe.command("compare-miditok")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--vocab-size", "vocab_sizes", required=True, metavar="N,N,...", help="Alphabet + merges (one or more).")
@click.option("--base-size", type=click.IntRange(1), default=None, help="Alphabet size (default: max symbol + 1).")
@click.option("--held-out", type=click.FloatRange(0, 0.9), default=0.1, show_default=True,
              help="Share of the sequences (the last ones) measured, not trained on.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def symbol_bpe_compare_miditok(input_path, vocab_sizes, base_size, held_out, as_json):
    """Train ours and miditok's BPE on the same INPUT sequences; compare merges and held-out lengths."""
    from ..train.symbol_stream import compare_with_miditok

    try:
        sizes = [int(v) for v in vocab_sizes.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter("expected comma-separated integers", param_hint="--vocab-size") from None
    seqs = [s for s in _int_lines(input_path) if s]
    if len(seqs) < 2:
        raise InvalidInputError(f"{input_path}: need at least two sequences")
    cut = max(1, min(len(seqs) - 1, round(len(seqs) * (1 - held_out)))) if held_out else len(seqs)
    train, test = seqs[:cut], seqs[cut:] or seqs
    base = base_size or max(max(s) for s in seqs) + 1
    rows = [compare_with_miditok(train, test, v, base_size=base) for v in sizes]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    keys = [("vocab_size", "vocab", "d"), ("merges", "merges", "d"), ("same_merges", "same as miditok", "d"),
            ("held_out_symbols", "held-out symbols", "d"), ("held_out_tokens", "ours", "d"),
            ("miditok_held_out_tokens", "miditok", "d"), ("train_seconds", "ours s", ".2f"),
            ("miditok_train_seconds", "miditok s", ".2f")]
    click.echo(_table(rows, keys))


# ---------------------------------------------------------------------------- item 9
def _huffman(corpus, **kw):
    """Frequency-only word tokenizer: n-ary Huffman codes over whole pretokens, byte fallback (own format)."""
    from ..train.frequency import train_huffman

    return train_huffman(corpus, **kw)


def _register_formats() -> None:
    from ..io import JSON_FORMATS
    from .core import ALGORITHMS

    JSON_FORMATS.setdefault("tokenlab-huffman", "tokenlab.train.frequency:load_huffman")
    ALGORITHMS.setdefault("huffman", _huffman)


_register_formats()


# ---------------------------------------------------------------------------- item 2
def _register_presegmented() -> None:
    from ..io import JSON_FORMATS

    JSON_FORMATS.setdefault("tokenlab-presegmented", "tokenlab.presegment:load_presegmented")


_register_presegmented()


def _language_texts(language: str, text_path: str | None) -> list[str]:
    if text_path:
        return _lines(text_path)
    from ..evaluate.data import django_parallel

    return django_parallel([language])[language]


@_command("presegment-train")
@click.argument("corpus", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--segmenter", required=True,
              help="compound, or an analyser: ko/kiwi, ja/fugashi, zh_Hans/jieba, tr/zeyrek, ru/pymorphy3, morfessor.")
@click.option("--algorithm", type=click.Choice(["bpe", "unigram"]), default="bpe", show_default=True)
@click.option("--vocab-size", type=click.IntRange(300), default=8000, show_default=True)
@click.option("--pretokenizer", default="gpt2", show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
def presegment_train(corpus, output, segmenter, algorithm, vocab_size, pretokenizer, progress):
    """Train a tokenizer whose tokens never cross morpheme/compound boundaries (applied again at encode time)."""
    from ..presegment import get_segmenter, train_presegmented

    docs = [t for p in corpus for t in _lines(p)]
    seg = get_segmenter(segmenter, docs)
    tok = train_presegmented(docs, seg, algorithm=algorithm, vocab_size=vocab_size, pretokenizer=pretokenizer,
                             progress=progress)
    tok.save(output)
    click.echo(f"wrote {output} ({tok.name})", err=True)


@_command("presegment-eval")
@click.option("-l", "--language", default="ko", show_default=True, help="Django language of the text.")
@click.option("--segmenter", default=None, help="Pre-segmenter (default: the language's analyser; or compound).")
@click.option("--eval-analyser", default=None,
              help="Analyser for the boundary scores (default: the language's; morfessor:LANG for any).")
@click.option("--text", "text_path", type=click.Path(dir_okay=False), help="Text instead of the Django strings.")
@click.option("--vocab-size", type=click.IntRange(300), default=1000, show_default=True)
@click.option("--algorithm", type=click.Choice(["bpe", "unigram"]), default="bpe", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def presegment_eval(language, segmenter, eval_analyser, text_path, vocab_size, algorithm, as_json):
    """Train with and without pre-segmentation on 90% of the text; bytes/token and boundary scores on the rest."""
    from ..evaluate.linguistic import analyser_for, morph_scores
    from ..presegment import get_segmenter, train_presegmented
    from ..train.bpe import train_bpe
    from ..train.unigram import train_unigram

    texts = _language_texts(language, text_path)
    cut = max(1, len(texts) * 9 // 10)
    train, held = texts[:cut], texts[cut:] or texts[-1:]
    seg = get_segmenter(segmenter or language, train)
    analyser = analyser_for(eval_analyser or language, texts)
    trainer = train_bpe if algorithm == "bpe" else train_unigram
    plain = trainer(train, vocab_size=vocab_size, pretokenizer="gpt2", progress=False)
    pre = train_presegmented(train, seg, algorithm=algorithm, vocab_size=vocab_size, pretokenizer="gpt2",
                             progress=False)
    n_bytes = sum(len(t.encode("utf-8")) for t in held)
    rows = []
    for name, tok in ((algorithm, plain), (f"{algorithm}+{getattr(seg, 'spec', 'seg')}", pre)):
        ids = [tok.encode_ordinary(t) for t in held]
        assert all(tok.decode(i) == t for i, t in zip(ids, held)), "decode must be exact"
        s = morph_scores(tok, held, analyser)
        rows.append({"tokenizer": name, "bytes_per_token": n_bytes / max(1, sum(map(len, ids))),
                     "precision": s.precision, "recall": s.recall, "f1": s.f1, "pure_percent": s.pure_percent,
                     "tr_percent": s.tr_percent, "analyser": analyser.name})
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    keys = [("tokenizer", "tokenizer", ""), ("bytes_per_token", "bytes/token", ".3f"), ("precision", "P", ".3f"),
            ("recall", "R", ".3f"), ("f1", "F1", ".3f"), ("tr_percent", "%TR", ".1f"), ("pure_percent", "%Pure", ".1f"),
            ("analyser", "scored by", "")]
    click.echo(_table(rows, keys))


# ---------------------------------------------------------------------------- item 3
def _ints(value: str, hint: str) -> list[int]:
    try:
        out = [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter("expected comma-separated integers", param_hint=hint) from None
    if not out or min(out) < 300:
        raise click.BadParameter("give vocab sizes >= 300", param_hint=hint)
    return out


def _names_list(value: str) -> list[str]:
    return [x.strip() for x in value.split(",") if x.strip()]


@_command("sweep")
@click.argument("corpus", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--vocab-sizes", default="500,1000,2000", show_default=True)
@click.option("--pretokenizers", default="gpt2,cl100k", show_default=True)
@click.option("--algorithms", default="bpe,unigram", show_default=True)
@click.option("--languages", default="en,de,ru,tr,el,ja", show_default=True,
              help="Django languages of the evaluation text (without CORPUS, training uses their first 80%).")
@click.option("--baseline", default="cl100k", show_default=True, help="Tokenizer for NSL ('none' for none).")
@click.option("--linguistic", default="", help="Languages to add boundary F1 for (e.g. tr,ru).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write a PNG of bytes/token vs vocab.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def sweep_cmd(corpus, vocab_sizes, pretokenizers, algorithms, languages, baseline, linguistic, plot_path, as_json,
              progress):
    """Train a grid (vocab sizes × pre-tokenizers × algorithms); bytes/token, NSL, premiums, boundary F1."""
    from ..evaluate.report import reference_tokenizer
    from ..evaluate.sweep import sweep, sweep_plot

    langs = _names_list(languages) or ["en"]
    par = _django(["en", *[x for x in langs if x != "en"]])
    n = len(par["en"])
    cut = int(n * 0.8)
    if corpus:
        train = [t for p in corpus for t in _lines(p)]
        evaluation = par
    else:
        train = [t for lines in par.values() for t in lines[:cut]]
        evaluation = {lang: lines[cut:] for lang, lines in par.items()}
    base = None if baseline == "none" else reference_tokenizer(baseline)
    rows = sweep(train, evaluation, vocab_sizes=_ints(vocab_sizes, "--vocab-sizes"),
                 pretokenizers=_names_list(pretokenizers), algorithms=_names_list(algorithms), baseline=base,
                 linguistic=_names_list(linguistic), progress=progress)
    if plot_path:
        sweep_plot(rows, plot_path)
        click.echo(f"plot -> {plot_path}", err=True)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    flat = []
    for r in rows:
        others = [v for k, v in r["premiums"].items() if k != "en"]
        flat.append({**r, "nsl": "-" if r["nsl"] is None else f"{r['nsl']:.3f}",
                     "premium": sum(others) / len(others) if others else 1.0,
                     "worst": max(r["premiums"], key=r["premiums"].get),
                     "f1": " ".join(f"{k}={v:.3f}" for k, v in r.get("boundary_f1", {}).items()) or "-"})
    keys = [("algorithm", "algorithm", ""), ("pretokenizer", "pre-tok", ""), ("vocab_size", "vocab", "d"),
            ("bytes_per_token", "bytes/token", ".3f"), ("nsl", "NSL", ""), ("premium", "mean premium", ".2f"),
            ("worst", "worst lang", ""), ("f1", "boundary F1", "")]
    click.echo(_table(flat, keys))


@_command("parity-vocab")
@click.option("--languages", default="en,de,ru,tr,el,ar,hi,ja,ko", show_default=True)
@click.option("--vocab-sizes", default="300,500,800,1200,2000,3000", show_default=True)
@click.option("--reference", default="en", show_default=True)
@click.option("--reference-vocab", type=click.IntRange(300), default=None,
              help="The reference language's vocab size whose token count others must match (default: middle).")
@click.option("--algorithm", type=click.Choice(["bpe", "unigram"]), default="bpe", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def parity_vocab(languages, vocab_sizes, reference, reference_vocab, algorithm, as_json, progress):
    """Per language: the monolingual vocab size needed to match the reference language's token count."""
    from ..evaluate.data import django_parallel
    from ..evaluate.sweep import parity_vocab_sizes

    langs = _names_list(languages)
    par = django_parallel([reference, *[x for x in langs if x != reference]])
    out = parity_vocab_sizes(par, _ints(vocab_sizes, "--vocab-sizes"), reference=reference,
                             reference_vocab=reference_vocab, algorithm=algorithm, progress=progress)
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return
    sizes = list(next(iter(out.values()))["tokens"])
    rows = [{"language": lang, **{str(s): r["tokens"][s] for s in sizes},
             "parity": "not reached" if r["parity_vocab"] is None else f"{r['parity_vocab']:.0f}"}
            for lang, r in out.items()]
    keys = [("language", "language", "")] + [(str(s), f"tokens@{s}", "d") for s in sizes] + \
        [("parity", "parity vocab", "")]
    click.echo(_table(rows, keys))


def _lib(corpus, **kw):
    """LiB-style learner: ordered lexicon grown/pruned while reading sentences; units may span words (own format)."""
    from ..train.lib import train_lib

    return train_lib(corpus, **kw)


def _register_lib() -> None:
    from ..io import JSON_FORMATS
    from .core import ALGORITHMS

    JSON_FORMATS.setdefault("tokenlab-lib", "tokenlab.train.lib:load_lib")
    ALGORITHMS.setdefault("lib", _lib)


_register_lib()
