"""Compare tokenizers on the same corpora: a terminal table and a self-contained HTML report.

The HTML has no external resources (charts are base64 PNGs, styles inline) so it can be mailed,
attached to an issue, or opened offline.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError
from .data import DEFAULT_LANGUAGES, django_parallel, load_corpus
from .metrics import as_encoder, number_split_consistency, script_coverage, summarize_with_ids, token_premiums

# Columns of the metrics table: key -> (header, format, what a reader should know)
COLUMNS = {
    "tokens": ("tokens", "{:,}", "tokens for the whole corpus (lower is cheaper)"),
    "bytes_per_token": ("bytes/token", "{:.3f}", "UTF-8 bytes per token (higher = better compression)"),
    "chars_per_token": ("chars/token", "{:.3f}", "characters per token"),
    "fertility": ("fertility", "{:.3f}", "tokens per whitespace word (Rust et al. 2021)"),
    "continued_words": ("continued", "{:.1%}", "share of words split into 2+ tokens"),
    "renyi": ("Rényi eff.", "{:.4f}", "Rényi efficiency, alpha 2.5 (Zouhar et al. 2023)"),
    "vocab_used": ("vocab used", "{:.1%}", "share of the vocabulary the corpus uses"),
}
SAMPLE_LANGUAGES = ["en", "de", "ru", "el", "ar", "hi", "ja", "zh_Hans", "ko", "ka"]


def reference_tokenizer(spec: str):
    """A tokenizer from a CLI spec: ``cl100k`` / ``tekken`` / ``mistral-sp`` (shipped by packages),
    ``utf8-bytes`` (the byte tokenizer), a file path, or ``train:CORPUS[:VOCAB]`` (a byte-level BPE
    trained here, cl100k pre-tokenizer, default 8000 tokens)."""
    from ..io import load_tokenizer, read_sentencepiece, read_tekken

    spec = SHORT_NAME_ALIASES.get(spec, spec)
    if spec in ("cl100k", "o200k"):
        from ..io.tiktoken_file import shipped_openai

        return shipped_openai(spec)
    if spec in ("tekken", "mistral-sp"):
        try:
            import mistral_common
        except ImportError:
            raise InvalidInputError(f"{spec!r} needs mistral-common: pip install mistral-common") from None
        data = Path(mistral_common.__file__).parent / "data"
        if spec == "tekken":
            tok = read_tekken(data / "tekken_240911.json")
        else:  # Mistral's v3 SentencePiece BPE (32k, byte fallback)
            tok = read_sentencepiece(data / "mistral_instruct_tokenizer_240323.model.v3")
        tok.name = spec
        return tok
    if spec == "utf8-bytes":
        from ..byte_tokenizer import ByteTokenizer

        return ByteTokenizer()  # ids are the UTF-8 bytes: the baseline every subword tokenizer compresses
    if spec.startswith("train:"):
        return _train_on(spec)
    if not Path(spec).is_file():
        raise InvalidInputError(f"{spec}: no such file (give a tokenizer file or a short name: "
                                f"{', '.join(SHORT_NAMES)}, train:CORPUS[:VOCAB])")
    tok = load_tokenizer(spec)
    try:
        tok.name = Path(spec).stem
    except AttributeError:
        pass
    return tok


SHORT_NAMES = ("cl100k", "o200k", "tekken", "mistral-sp", "utf8-bytes")
SHORT_NAME_ALIASES = {"cl100k_base": "cl100k", "o200k_base": "o200k"}


def is_short_name(spec: str) -> bool:
    """A shipped reference (``cl100k``, ...) or ``train:CORPUS``, as opposed to a file path."""
    return SHORT_NAME_ALIASES.get(spec, spec) in SHORT_NAMES or spec.startswith("train:")


def _train_on(spec: str):
    from ..train.bpe import train_bpe

    _, corpus, *rest = spec.split(":")
    try:
        vocab_size = int(rest[0]) if rest else 8000
    except ValueError:
        raise InvalidInputError(f"{spec}: expected train:CORPUS[:VOCAB_SIZE]") from None
    if not corpus or len(rest) > 1 or vocab_size < 300:
        raise InvalidInputError(f"{spec}: expected train:CORPUS[:VOCAB_SIZE] with VOCAB_SIZE >= 300")
    tok = train_bpe(load_corpus(corpus), vocab_size=vocab_size, pretokenizer="cl100k",
                    special_tokens=["<|endoftext|>"], progress=False)
    tok.name = f"bpe-{Path(corpus).stem}-{vocab_size}"
    return tok


@dataclass
class Comparison:
    """Everything the report shows; plain data so it can be dumped as JSON."""

    names: list[str]
    corpora: list[str]
    rows: dict[str, dict[str, dict[str, float]]]  # name -> corpus -> metric -> value
    vocab_sizes: dict[str, int]
    premiums: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> lang -> premium
    length_counts: dict[str, dict[int, int]] = field(default_factory=dict)  # name -> token bytes -> count
    numbers: dict[str, dict] = field(default_factory=dict)
    scripts: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> class -> share of vocab
    samples: list[tuple[str, str]] = field(default_factory=list)  # (label, text)
    pieces: dict[str, list[list[tuple[str, list[int]]]]] = field(default_factory=dict)  # name -> sample -> spans
    linguistic: dict[str, dict[str, dict]] = field(default_factory=dict)  # name -> lang -> boundary F1, %TR, ...
    drift: dict[str, list[dict]] = field(default_factory=dict)  # name -> drift rows (evaluate/robustness.py)

    def to_dict(self) -> dict:
        return {"names": self.names, "corpora": self.corpora, "rows": self.rows, "vocab_sizes": self.vocab_sizes,
                "premiums": self.premiums, "length_counts": self.length_counts,
                "numbers": {n: {**v, "patterns": {str(k): list(p) for k, p in v["patterns"].items()}}
                            for n, v in self.numbers.items()},
                "scripts": self.scripts, "samples": self.samples, "linguistic": self.linguistic,
                "drift": self.drift}


def token_spans(tok, text: str) -> list[tuple[str, list[int]]]:
    """The text cut where tokens end: (shown text, ids). Tokens holding part of a character are
    grouped with their neighbours until the bytes decode, so every span is readable."""
    enc = as_encoder(tok)
    ids = enc.encode(text)
    if enc.token_bytes is None:
        return [(str(i), [i]) for i in ids]
    spans, buf, group = [], b"", []
    for i in ids:
        buf += enc.token_bytes(i)
        group.append(i)
        try:
            shown = buf.decode("utf-8")
        except UnicodeDecodeError:
            continue
        spans.append((shown, group))
        buf, group = b"", []
    if group:
        spans.append((buf.decode("utf-8", "replace"), group))
    return spans


def _pick_samples(parallel: dict[str, list[str]], n: int = 2) -> list[int]:
    """Indices of the longest English entries that still fit on a line (deterministic)."""
    en = parallel.get("en") or next(iter(parallel.values()))
    fitting = [i for i, s in enumerate(en) if 40 <= len(s) <= 110 and "\n" not in s]
    fitting.sort(key=lambda i: (-len(en[i]), i))
    return sorted(fitting[:n])


def _excerpt(docs: list[str], max_lines: int = 12) -> str:
    """A short readable piece of a corpus: its first function of 6+ lines if it has code, else its first lines."""
    for text in docs:
        start = text.find("\ndef ")
        while start >= 0:
            end = text.find("\n\n", start + 1)
            lines = text[start + 1:end if end > start else None].splitlines()
            if len(lines) >= 6:
                return "\n".join(line[:160] for line in lines[:max_lines])
            start = text.find("\ndef ", start + 1)
    lines = next((d for d in docs if d.strip()), "").strip().splitlines()
    return "\n".join(line[:160] for line in lines[:max_lines])


def compare(tokenizers: dict, corpora=("parallel", "code"), languages=None, limit_bytes: int = 300_000,
            alpha: float = 2.5, progress: bool = False, n_samples: int = 2, linguistic=(), drift: int = 0) \
        -> Comparison:
    """Run every metric of the report for each tokenizer on each corpus.

    ``linguistic``: languages for the morpheme-boundary section; ``drift``: that many standard-library
    functions and Django strings per language (en, de, ru) go through the meaning-preserving rewrites of
    the drift section (0: no drift section).

    ``tokenizers`` maps display names to tokenizer objects; ``corpora`` are names understood by
    :func:`~tokenlab.evaluate.data.load_corpus` (``parallel``, ``code``, ``prose``, a file path).
    """
    from tqdm import tqdm

    if not tokenizers:
        raise InvalidInputError("give at least one tokenizer")
    corpora = list(dict.fromkeys(corpora))
    if not corpora:
        raise InvalidInputError("give at least one corpus")
    languages = list(languages or DEFAULT_LANGUAGES)
    parallel = None
    texts = {}
    for spec in corpora:
        if spec == "parallel":
            parallel = django_parallel(["en"] + [lang for lang in languages if lang != "en"])
            texts[spec] = ["\n".join(lines) for lines in parallel.values()]
        else:
            texts[spec] = load_corpus(spec, limit_bytes=limit_bytes)
    names = list(tokenizers)
    result = Comparison(names=names, corpora=corpora, rows={}, vocab_sizes={})
    if parallel is not None:
        for idx in _pick_samples(parallel, n_samples):
            result.samples += [(lang, parallel[lang][idx]) for lang in SAMPLE_LANGUAGES if lang in parallel]
    other = next((spec for spec in corpora if spec != "parallel"), None)
    if other is not None:
        result.samples.append((Path(other).stem, _excerpt(texts[other])))
    result.samples.append(("numbers", "In 2024, 1,234,567 people paid $89.99 (3.14159% more than 12345)."))
    steps = tqdm(total=len(names) * (len(corpora) + 2), desc="compare", unit="step", disable=not progress)
    for name in names:
        enc = as_encoder(tokenizers[name], name)
        result.vocab_sizes[name] = len(enc.vocab_ids) if enc.vocab_ids is not None else 0
        result.rows[name] = {}
        lengths: Counter = Counter()
        for spec in corpora:
            result.rows[name][spec], ids = summarize_with_ids(enc, texts[spec], alpha=alpha)
            if enc.token_bytes is not None:
                for seq in ids:
                    lengths.update(len(enc.token_bytes(i)) for i in seq)
            steps.update()
        result.length_counts[name] = dict(sorted(lengths.items()))
        if parallel is not None:
            result.premiums[name] = token_premiums(enc, parallel, reference="en")
        if enc.token_bytes is not None:
            result.numbers[name] = number_split_consistency(enc, range(0, 10_000, 7))
        try:
            result.scripts[name] = script_coverage(enc)
        except InvalidInputError:
            pass  # no byte vocabulary to classify
        steps.update()
        result.pieces[name] = [token_spans(enc, text) for _, text in result.samples]
        steps.update()
    steps.close()
    if linguistic:  # morpheme-boundary scores on the Django strings of each language (evaluate/linguistic.py)
        from .linguistic import linguistic_table

        langs = list(dict.fromkeys(linguistic))
        par = django_parallel(["en", *[lang for lang in langs if lang != "en"]])
        result.linguistic = linguistic_table(tokenizers, {lang: par[lang] for lang in langs})
    if drift:  # TokDrift-style rewrites (evaluate/robustness.py), the same samples for every tokenizer
        from .data import stdlib_code
        from .robustness import code_samples, drift_suite

        code = code_samples(stdlib_code(1_000_000), max_samples=drift)
        par = django_parallel(["en", "de", "ru"])
        result.drift = drift_suite(tokenizers, code=code, texts=[t for lines in par.values() for t in lines[:drift]])
    return result


# ---------------------------------------------------------------------------- text table
def _fmt(key: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return COLUMNS[key][1].format(value)


def format_table(cmp: Comparison) -> str:
    """A fixed-width table for the terminal: one row per (tokenizer, corpus)."""
    keys = [k for k in COLUMNS if any(k in r for rows in cmp.rows.values() for r in rows.values())]
    header = ["tokenizer", "vocab", "corpus"] + [COLUMNS[k][0] for k in keys]
    lines = []
    for name in cmp.names:
        for spec in cmp.corpora:
            row = cmp.rows[name][spec]
            lines.append([name, f"{cmp.vocab_sizes[name]:,}", spec] + [_fmt(k, row.get(k)) for k in keys])
    if cmp.premiums:
        header.append("mean premium")
        for line in lines:
            prem = cmp.premiums[line[0]]
            others = [v for lang, v in prem.items() if lang != "en"]
            line.append(f"{sum(others) / len(others):.2f}" if others else "-")
    widths = [max(len(h), *(len(line[j]) for line in lines)) for j, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) if j < 3 else h.rjust(w) for j, (h, w) in enumerate(zip(header, widths)))]
    for line in lines:
        out.append("  ".join(c.ljust(w) if j < 3 else c.rjust(w) for j, (c, w) in enumerate(zip(line, widths))))
    return "\n".join(out)


# ---------------------------------------------------------------------------- charts
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def premium_chart(cmp: Comparison) -> str:
    """Grouped bars: token premium per language (vs English), one colour per tokenizer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    langs = list(next(iter(cmp.premiums.values())))
    order = sorted(langs, key=lambda lang: sum(cmp.premiums[n][lang] for n in cmp.names))
    x = np.arange(len(order))
    width = 0.8 / len(cmp.names)
    fig, ax = plt.subplots(figsize=(min(10.0, max(6.0, 0.33 * len(order) + 2)), 4.6))
    for k, name in enumerate(cmp.names):
        ax.bar(x + (k - (len(cmp.names) - 1) / 2) * width, [cmp.premiums[name][lang] for lang in order], width,
               label=name)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, order, rotation=45, ha="right")
    ax.set_ylabel("tokens relative to English")
    ax.set_title("Token premium per language (same sentences; 1.0 = parity with English)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def length_chart(cmp: Comparison, max_len: int = 16) -> str:
    """Share of produced tokens by length in bytes (last bin: >= max_len)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(1, max_len + 1)
    width = 0.8 / len(cmp.names)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for k, name in enumerate(cmp.names):
        counts = cmp.length_counts.get(name) or {}
        total = sum(counts.values()) or 1
        shares = [sum(c for n, c in counts.items() if (n == b if b < max_len else n >= b)) / total for b in x]
        ax.bar(x + (k - (len(cmp.names) - 1) / 2) * width, shares, width, label=name)
    ax.set_xticks(x, [str(b) for b in x[:-1]] + [f"{max_len}+"])
    ax.set_xlabel("token length (UTF-8 bytes)")
    ax.set_ylabel("share of tokens")
    ax.set_title("Token length distribution on the corpora")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


# ---------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1320px;color:#222;
padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px} h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:14px} th,td{border:1px solid #ddd;padding:4px 8px}
th{background:#f4f4f4;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
td.best{font-weight:bold;background:#eaf6ea}
.note{color:#666;font-size:13px} img{max-width:100%}
.row{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap} .row img{max-width:1000px;flex:1 1 600px}
.tok{display:flex;gap:12px;margin:6px 0;align-items:flex-start}
.tok .who{width:120px;flex:none;font-size:12px;color:#555;padding-top:3px;overflow:hidden;text-overflow:ellipsis}
.tok .n{width:48px;flex:none;font-size:12px;color:#555;text-align:right;padding-top:3px}
.pieces{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:14px;line-height:1.9;white-space:pre-wrap;
word-break:break-word;flex:1}
.pieces span{border-radius:3px;padding:1px 0;margin-right:1px}
.pieces span.partial{outline:1px dashed #a00}
.c0{background:#cfe3ff}.c1{background:#ffd9b3}.c2{background:#c9f0c9}.c3{background:#f5c6e0}.c4{background:#fff2a8}
.c5{background:#d7ccf5}
.sample{margin:14px 0;padding:8px 10px;border:1px solid #eee;border-radius:6px}
.sample .label{font-size:12px;color:#777;margin-bottom:4px}
"""


def _e(s) -> str:
    return html.escape(str(s), quote=True)


def _metrics_table(cmp: Comparison) -> str:
    keys = [k for k in COLUMNS if any(k in r for rows in cmp.rows.values() for r in rows.values())]
    better_high = {"bytes_per_token", "chars_per_token", "renyi", "vocab_used"}
    out = ["<table class='metrics'><thead><tr><th>corpus</th><th>tokenizer</th><th>vocab</th>"]
    out += [f"<th title='{_e(COLUMNS[k][2])}'>{_e(COLUMNS[k][0])}</th>" for k in keys]
    out.append("</tr></thead><tbody>")
    for spec in cmp.corpora:
        best = {}
        for k in keys:
            vals = [cmp.rows[n][spec].get(k) for n in cmp.names]
            vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
            if vals and k != "vocab_used":
                best[k] = max(vals) if k in better_high else min(vals)
        for name in cmp.names:
            row = cmp.rows[name][spec]
            cells = []
            for k in keys:
                v = row.get(k)
                cls = "num best" if len(cmp.names) > 1 and k in best and v == best[k] else "num"
                raw = "" if v is None else f" data-value='{v!r}'"
                cells.append(f"<td class='{cls}' data-metric='{k}'{raw}>{_e(_fmt(k, v))}</td>")
            out.append(f"<tr data-tokenizer='{_e(name)}' data-corpus='{_e(spec)}'><td>{_e(spec)}</td>"
                       f"<td>{_e(name)}</td><td class='num'>{cmp.vocab_sizes[name]:,}</td>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    out.append("<p class='note'>" + "; ".join(f"<b>{_e(h)}</b>: {_e(d)}" for k, (h, _, d) in COLUMNS.items()
                                             if k in keys) + ". Best value per corpus in bold.</p>")
    return "".join(out)


def _premium_table(cmp: Comparison) -> str:
    langs = list(next(iter(cmp.premiums.values())))
    out = ["<table class='premiums'><thead><tr><th>language</th>"]
    out += [f"<th>{_e(n)}</th>" for n in cmp.names]
    out.append("</tr></thead><tbody>")
    for lang in langs:
        cells = "".join(f"<td class='num' data-value='{cmp.premiums[n][lang]!r}'>{cmp.premiums[n][lang]:.2f}</td>"
                        for n in cmp.names)
        out.append(f"<tr data-lang='{_e(lang)}'><td>{_e(lang)}</td>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _numbers_table(cmp: Comparison) -> str:
    out = ["<table class='numbers'><thead><tr><th>tokenizer</th><th>consistency</th><th>single token</th>"
           "<th>split of 1-4 digit numbers (digits per token)</th></tr></thead><tbody>"]
    for name, r in cmp.numbers.items():
        pats = ", ".join(f"{d}: {'+'.join(map(str, p))}" for d, p in r["patterns"].items())
        out.append(f"<tr><td>{_e(name)}</td><td class='num'>{r['consistency']:.1%}</td>"
                   f"<td class='num'>{r['single_token']:.1%}</td><td>{_e(pats)}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _scripts_table(cmp: Comparison) -> str:
    classes = sorted({c for shares in cmp.scripts.values() for c in shares},
                     key=lambda c: -max(shares.get(c, 0.0) for shares in cmp.scripts.values()))
    names = list(cmp.scripts)
    out = ["<table class='scripts'><thead><tr><th>token class</th>"]
    out += [f"<th>{_e(n)}</th>" for n in names]
    out.append("</tr></thead><tbody>")
    for c in classes:
        cells = "".join(f"<td class='num' data-value='{cmp.scripts[n].get(c, 0.0)!r}'>"
                        f"{cmp.scripts[n].get(c, 0.0):.2%}</td>" for n in names)
        out.append(f"<tr data-class='{_e(c)}'><td>{_e(c)}</td>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _linguistic_table(cmp: Comparison) -> str:
    out = ["<table class='linguistic'><thead><tr><th>language</th><th>analyser</th><th>tokenizer</th><th>P</th>"
           "<th>R</th><th>F1</th><th>%TR</th><th>%Pure</th></tr></thead><tbody>"]
    for name, per_lang in cmp.linguistic.items():
        for lang, r in per_lang.items():
            cells = "".join(f"<td class='num' data-metric='{k}' data-value='{r[k]!r}'>{r[k]:{f}}</td>"
                            for k, f in (("precision", ".3f"), ("recall", ".3f"), ("f1", ".3f"),
                                         ("tr_percent", ".1f"), ("pure_percent", ".1f")))
            out.append(f"<tr data-tokenizer='{_e(name)}' data-lang='{_e(lang)}'><td>{_e(lang)}</td>"
                       f"<td>{_e(r['analyser'])}</td><td>{_e(name)}</td>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _drift_table(cmp: Comparison) -> str:
    names = list(cmp.drift)
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    out = [f"<table class='drift'><thead><tr><th>rewrite</th><th>samples</th>{head}</tr></thead><tbody>"]
    for k, row in enumerate(cmp.drift[names[0]]):
        cells = []
        for n in names:
            r = cmp.drift[n][k]
            spill = r["spillover"]
            shown = "-" if math.isnan(spill) else f"{100 * spill:.2f}% / {r['relative_distance']:.3f}"
            cells.append(f"<td class='num' data-metric='spillover' data-value='{spill!r}'>{shown}</td>")
        out.append(f"<tr data-rewrite='{_e(row['rewrite'])}'><td>{_e(row['rewrite'])}</td>"
                   f"<td class='num'>{row['samples']}</td>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _samples_html(cmp: Comparison) -> str:
    out = []
    for k, (label, _text) in enumerate(cmp.samples):
        out.append(f"<div class='sample'><div class='label'>{_e(label)}</div>")
        for name in cmp.names:
            spans = cmp.pieces[name][k]
            n_tokens = sum(len(ids) for _, ids in spans)
            parts = []
            for j, (shown, ids) in enumerate(spans):
                cls = f"c{j % 6}" + (" partial" if len(ids) > 1 else "")
                parts.append(f"<span class='{cls}' title='{_e(' '.join(map(str, ids)))}'>{_e(shown)}</span>")
            out.append(f"<div class='tok'><div class='who' title='{_e(name)}'>{_e(name)}</div>"
                       f"<div class='n'>{n_tokens}</div><div class='pieces' dir='auto'>{''.join(parts)}</div></div>")
        out.append("</div>")
    return "".join(out)


def render_html(cmp: Comparison, title: str = "Tokenizer comparison") -> str:
    """A self-contained HTML page (charts embedded as base64 PNG)."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1><p class='note'>Tokenizers: {_e(', '.join(cmp.names))}. "
             f"Corpora: {_e(', '.join(cmp.corpora))}. Made by tokenlab.</p>",
             "<h2 id='metrics'>Metrics</h2>", _metrics_table(cmp)]
    if cmp.premiums:
        parts += ["<h2 id='premiums'>Token premium per language</h2>",
                  "<p class='note'>Tokens needed for the same Django UI strings in each language, divided by "
                  "English (Petrov et al. 2023). Lower is fairer; 1.0 is parity.</p>",
                  "<div class='row'>"
                  f"<img class='chart' id='premium-chart' alt='token premium chart' "
                  f"src='data:image/png;base64,{premium_chart(cmp)}'>", _premium_table(cmp), "</div>"]
    if any(cmp.length_counts.values()):
        parts += ["<h2 id='lengths'>Token lengths</h2>",
                  f"<img class='chart' id='length-chart' alt='token length histogram' "
                  f"src='data:image/png;base64,{length_chart(cmp)}'>"]
    if cmp.numbers:
        parts += ["<h2 id='numbers'>Number splitting</h2>",
                  "<p class='note'>Numbers 0-9999 (every 7th): consistency is the share split like most numbers "
                  "of their length.</p>", _numbers_table(cmp)]
    if cmp.scripts:
        parts += ["<h2 id='scripts'>Vocabulary by script</h2>",
                  "<p class='note'>Share of each vocabulary per Unicode script (a token belongs to a script when "
                  "all its letters do), Qtok-style.</p>", _scripts_table(cmp)]
    if cmp.linguistic:
        parts += ["<h2 id='linguistic'>Morphological alignment</h2>",
                  "<p class='note'>Token boundaries inside words against a morphological analyser: precision, "
                  "recall, F1; %TR: distinct tokens that are words or morphemes of the language; %Pure: distinct "
                  "tokens that never cross a morpheme boundary (Bayram et al. 2025).</p>", _linguistic_table(cmp)]
    if cmp.drift:
        parts += ["<h2 id='drift'>Token drift under meaning-preserving rewrites</h2>",
                  "<p class='note'>Code rewrites (checked unchanged with ast.dump) and text rewrites (same text once "
                  "normalised), TokDrift-style. Each cell: spillover, the share of tokens over untouched text that "
                  "changed anyway / mean token edit distance relative to the original length.</p>",
                  _drift_table(cmp)]
    parts += ["<h2 id='samples'>Sample tokenizations</h2>",
              "<p class='note'>Alternating colours mark token boundaries; hover for ids; the number is the token "
              "count. A dashed outline groups tokens that each hold part of one character.</p>",
              _samples_html(cmp), "</body></html>"]
    return "".join(parts)


def write_report(cmp: Comparison, path, title: str = "Tokenizer comparison") -> None:
    from ..io.atomic import atomic_write_text

    atomic_write_text(path, render_html(cmp, title))
