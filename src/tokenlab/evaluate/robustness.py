"""Tokenization drift under meaning-preserving rewrites, and a per-language audit of dead tokens.

"TokDrift: When LLM Speaks in Subwords but Code Speaks in Grammar" shows that rewrites a compiler
ignores (spacing, naming conventions, formatting) change a code model's tokens and then its
answers. Here we measure the first half for any tokenizer: how often and how far the token
sequence moves when the text is rewritten without changing its meaning.

* Code rewrites act on Python source through :mod:`tokenize` (so strings and comments are never
  touched) and are *verified*: a rewrite counts only if ``ast.dump`` of the result equals the
  original's (for renamings: after the same renaming is applied to the original's tree).
* Text rewrites: Unicode normal forms, zero-width characters, Latin/Cyrillic/Greek homoglyphs, case,
  spacing; each is checked to read the same once folded back (NFKC, invisible characters
  dropped, homoglyphs mapped back, case folded, spaces collapsed).

Drift of one sample: whether the ids differ, the Levenshtein distance between the two id
sequences (insert/delete/substitute one token = 1), that distance divided by the original
length, and the change in token count.

The audit ("Problematic Tokens", Magikarp) joins, for each language of the parallel corpus, the
tokens of its script with :mod:`tokenlab.evaluate.health`: how many are unreachable (their own
text does not encode to them) and how many the language's text never uses.
"""

from __future__ import annotations

import ast
import io
import keyword
import math
import tokenize
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import regex

from ..errors import InvalidInputError
from .metrics import as_encoder, char_script, token_category


# ---------------------------------------------------------------------------- edit distance
def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance between two id sequences (unit costs). Common prefix and suffix are
    skipped first (drift is usually local); the rest runs one numpy row at a time."""
    a, b = list(a), list(b)
    lo = 0
    while lo < len(a) and lo < len(b) and a[lo] == b[lo]:
        lo += 1
    hi_a, hi_b = len(a), len(b)
    while hi_a > lo and hi_b > lo and a[hi_a - 1] == b[hi_b - 1]:
        hi_a, hi_b = hi_a - 1, hi_b - 1
    x, y = np.asarray(a[lo:hi_a], dtype=np.int64), np.asarray(b[lo:hi_b], dtype=np.int64)
    if len(x) == 0 or len(y) == 0:
        return max(len(x), len(y))
    steps = np.arange(len(y) + 1, dtype=np.int64)
    row = steps.copy()
    for i, xi in enumerate(x, start=1):
        best = np.empty_like(row)
        best[0] = i
        # deletion (from above) or substitution/match (diagonal); insertions are a running minimum
        best[1:] = np.minimum(row[1:] + 1, row[:-1] + (y != xi))
        row = np.minimum.accumulate(best - steps) + steps
    return int(row[-1])


# ---------------------------------------------------------------------------- code rewrites
def _tokens(source: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(source).readline))


def _offsets(source: str) -> list[int]:
    starts, pos = [0], 0
    for line in source.splitlines(keepends=True):
        pos += len(line)
        starts.append(pos)
    return starts


def _rebuild(source: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply non-overlapping (start, end, replacement) character edits."""
    out, pos = [], 0
    for s, e, text in sorted(edits):
        out.append(source[pos:s])
        out.append(text)
        pos = e
    out.append(source[pos:])
    return "".join(out)


_SPACED_OPS = {"=", "==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "//", "%", "+=", "-=", "*=", "/=",
               "->", ":=", "|", "&", "^", "**", "<<", ">>", "@"}


def _gaps(source: str):
    """(start, end, left token, right token) of the blanks between two tokens on one line."""
    toks = [t for t in _tokens(source) if t.type not in (tokenize.ENCODING,)]
    line_start = _offsets(source)
    for left, right in zip(toks, toks[1:]):
        if left.end[0] != right.start[0] or left.type in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                                          tokenize.DEDENT):
            continue
        if right.type in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.ENDMARKER):
            continue
        s = line_start[left.end[0] - 1] + left.end[1]
        e = line_start[right.start[0] - 1] + right.start[1]
        if source[s:e].strip(" \t") == "":
            yield s, e, left, right


def spaces_around_operators(source: str) -> str:
    """``x=a+b`` -> ``x = a + b`` (one space each side of binary operators, none inside brackets' ends)."""
    edits = []
    for s, e, left, right in _gaps(source):
        if (left.type == tokenize.OP and left.string in _SPACED_OPS) or (
                right.type == tokenize.OP and right.string in _SPACED_OPS):
            if source[s:e] != " ":
                edits.append((s, e, " "))
    return _rebuild(source, edits)


def compact_operators(source: str) -> str:
    """``x = a + b`` -> ``x=a+b``: drop the blanks next to operators and commas (PEP 8 would not, Python does)."""
    edits = []
    for s, e, left, right in _gaps(source):
        if s == e:
            continue
        if (left.type == tokenize.OP and left.string != ":") or (right.type == tokenize.OP):
            edits.append((s, e, ""))
    return _rebuild(source, edits)


def _logical_line_starts(source: str) -> set[int]:
    """Line numbers (1-based) whose leading blanks are indentation, not part of a string."""
    inside = set()
    for t in _tokens(source):
        if t.type == tokenize.STRING or getattr(tokenize, "FSTRING_MIDDLE", None) == t.type:
            inside.update(range(t.start[0] + 1, t.end[0] + 1))
    return {n for n in range(1, source.count("\n") + 2) if n not in inside}


def reindent(source: str, width: int = 2, tabs: bool = False) -> str:
    """Indentation of 4 -> ``width`` spaces (or tabs); string contents keep their blanks."""
    lines = source.splitlines(keepends=True)
    ok = _logical_line_starts(source)
    out = []
    for n, line in enumerate(lines, start=1):
        body = line.lstrip(" ")
        lead = len(line) - len(body)
        if n in ok and lead and body.strip():
            levels, rest = divmod(lead, 4)
            line = ("\t" * levels if tabs else " " * (width * levels)) + " " * rest + body
        out.append(line)
    return "".join(out)


def blank_lines(source: str) -> str:
    """Drop blank lines outside strings (``black`` would add them back; the program is the same)."""
    ok = _logical_line_starts(source)
    return "".join(line for n, line in enumerate(source.splitlines(keepends=True), start=1)
                   if line.strip() or n not in ok)


def trailing_whitespace(source: str) -> str:
    """A space before every line end outside strings."""
    ok = _logical_line_starts(source)
    lines = source.splitlines(keepends=True)
    out = []
    for n, line in enumerate(lines, start=1):
        nxt = n + 1
        body = line.rstrip("\r\n")
        if line != body and nxt in ok and n in ok and not body.endswith("\\"):
            line = body + " " + line[len(body):]
        out.append(line)
    return "".join(out)


def double_quotes(source: str) -> str:
    """``'abc'`` -> ``"abc"`` for simple string literals (no quotes or backslashes inside)."""
    edits = []
    line_start = _offsets(source)
    for t in _tokens(source):
        if t.type != tokenize.STRING:
            continue
        m = regex.fullmatch(r"([rRbBuU]{0,2})'([^'\"\\\n]*)'", t.string)
        if m:
            s = line_start[t.start[0] - 1] + t.start[1]
            edits.append((s, s + len(t.string), f'{m.group(1)}"{m.group(2)}"'))
    return _rebuild(source, edits)


def _local_names(tree: ast.AST) -> set[str]:
    """Names bound only inside functions (parameters and assigned locals) and never used as an
    attribute, keyword, global/nonlocal or import: renaming them cannot change behaviour."""
    bound, unsafe = set(), set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for node in ast.walk(fn):
                if isinstance(node, ast.arg):
                    bound.add(node.arg)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    bound.add(node.id)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            unsafe.add(node.attr)
        elif isinstance(node, ast.keyword) and node.arg:
            unsafe.add(node.arg)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            unsafe.update(node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            unsafe.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            unsafe.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node in _module_level(tree):
            unsafe.add(node.id)
    return {n for n in bound - unsafe if not n.startswith("__") and n not in dir(__builtins__)}


def _module_level(tree: ast.AST) -> set:
    out = set()
    for stmt in getattr(tree, "body", []):
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.update(ast.walk(stmt))
        elif isinstance(stmt, ast.ClassDef):
            for sub in stmt.body:
                if not isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out.update(ast.walk(sub))
    return out


def _camel(name: str) -> str:
    head, *rest = name.strip("_").split("_")
    return "_" * (len(name) - len(name.lstrip("_"))) + head + "".join(p[:1].upper() + p[1:] for p in rest)


def _pascal(name: str) -> str:
    c = _camel(name)
    lead = len(c) - len(c.lstrip("_"))
    return c[:lead] + c[lead:lead + 1].upper() + c[lead + 1:]


def _renamer(convert: Callable[[str], str]) -> Callable[[str], str]:
    def rewrite(source: str) -> str:
        tree = ast.parse(source)
        names = _local_names(tree)
        taken = {t.string for t in _tokens(source) if t.type == tokenize.NAME}
        mapping = {}
        for n in sorted(names):
            new = convert(n)
            if new != n and new not in taken and not keyword.iskeyword(new) and new not in mapping.values():
                mapping[n] = new
        line_start = _offsets(source)
        edits = []
        for t in _tokens(source):
            if t.type == tokenize.NAME and t.string in mapping:
                s = line_start[t.start[0] - 1] + t.start[1]
                edits.append((s, s + len(t.string), mapping[t.string]))
        rewrite.mapping = mapping  # type: ignore[attr-defined]
        return _rebuild(source, edits)

    return rewrite


class _Rename(ast.NodeTransformer):
    def __init__(self, mapping):
        self.mapping = mapping

    def visit_Name(self, node):
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.mapping.get(node.arg, node.arg)
        self.generic_visit(node)
        return node


def same_program(original: str, rewritten: str, mapping: Mapping[str, str] | None = None) -> bool:
    """``ast.dump`` equality (after renaming the original's locals by ``mapping``)."""
    try:
        new = ast.parse(rewritten)
    except SyntaxError:
        return False
    old = ast.parse(original)
    if mapping:
        old = _Rename(mapping).visit(old)
    return ast.dump(old) == ast.dump(new)


CODE_REWRITES: dict[str, Callable[[str], str]] = {
    "spaces_around_operators": spaces_around_operators,
    "compact_operators": compact_operators,
    "indent_2_spaces": reindent,
    "indent_tabs": lambda s: reindent(s, tabs=True),
    "no_blank_lines": blank_lines,
    "trailing_whitespace": trailing_whitespace,
    "double_quotes": double_quotes,
    "camel_case_locals": _renamer(_camel),
    "pascal_case_locals": _renamer(_pascal),
}


def rewrite_code(source: str, name: str) -> str | None:
    """The rewritten source, or None when the rewrite changes nothing or fails the ``ast.dump`` check."""
    fn = CODE_REWRITES[name]
    try:
        out = fn(source)
    except (SyntaxError, tokenize.TokenError, IndentationError, ValueError):
        return None
    if out == source:
        return None
    return out if same_program(source, out, getattr(fn, "mapping", None)) else None


# ---------------------------------------------------------------------------- text rewrites
ZERO_WIDTH_SPACE = "\u200b"
# Latin letters and the Cyrillic/Greek letters that render the same in most fonts
HOMOGLYPHS = {"a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440", "x": "\u0445",
              "y": "\u0443", "i": "\u0456", "j": "\u0458", "s": "\u0455", "A": "\u0391", "B": "\u0392",
              "E": "\u0395", "H": "\u0397", "I": "\u0399", "K": "\u039a", "M": "\u039c", "N": "\u039d",
              "O": "\u039f", "P": "\u03a1", "T": "\u03a4", "X": "\u03a7", "Y": "\u03a5", "Z": "\u0396"}
_BACK = {v: k for k, v in HOMOGLYPHS.items()}
_WORD = regex.compile(r"\S+")


def _homoglyphs(text: str) -> str:
    # one look-alike per word (the first letter that has one): enough to fool a reader, not a tokenizer
    def one(m):
        w = m.group()
        for k, ch in enumerate(w):
            if ch in HOMOGLYPHS:
                return w[:k] + HOMOGLYPHS[ch] + w[k + 1:]
        return w

    return _WORD.sub(one, text)


def _zero_width(text: str) -> str:
    return _WORD.sub(lambda m: m.group()[: len(m.group()) // 2] + ZERO_WIDTH_SPACE + m.group()[len(m.group()) // 2:]
                     if len(m.group()) > 1 else m.group(), text)


TEXT_REWRITES: dict[str, Callable[[str], str]] = {
    "nfc": lambda t: unicodedata.normalize("NFC", t),
    "nfd": lambda t: unicodedata.normalize("NFD", t),
    "nfkc": lambda t: unicodedata.normalize("NFKC", t),
    "zero_width": _zero_width,
    "homoglyphs": _homoglyphs,
    "lower": str.lower,
    "upper": str.upper,
    "double_spaces": lambda t: regex.sub(r"(?<=\S) (?=\S)", "  ", t),
    "leading_space": lambda t: " " + t,
}


def reads_the_same(a: str, b: str) -> bool:
    """Equal once NFKC-normalised, invisible format characters dropped, homoglyphs mapped back,
    case folded and blanks collapsed: what a reader would call the same text."""
    def fold(t):
        t = "".join(_BACK.get(c, c) for c in unicodedata.normalize("NFKC", t) if unicodedata.category(c) != "Cf")
        return " ".join(t.casefold().split())

    return fold(a) == fold(b)


def rewrite_text(text: str, name: str) -> str | None:
    """The rewritten text, or None when it is unchanged (nothing to rewrite) or no longer reads the same."""
    out = TEXT_REWRITES[name](text)
    if out == text:
        return None
    return out if reads_the_same(text, out) else None


# ---------------------------------------------------------------------------- drift
@dataclass
class Drift:
    """Drift of one tokenizer under one rewrite, over the samples the rewrite applied to."""

    rewrite: str
    samples: int = 0
    changed: int = 0  # samples whose ids differ at all
    edit_distance: float = 0.0  # mean Levenshtein distance between id sequences
    relative_distance: float = 0.0  # mean of distance / original token count
    token_delta: float = 0.0  # mean (rewritten - original) token count
    untouched_tokens: int = 0  # original tokens lying wholly in text the rewrite kept
    spilled_tokens: int = 0  # ... of which the rewritten tokenization no longer has (same bytes, same place)

    @property
    def drift_rate(self) -> float:
        return self.changed / self.samples if self.samples else math.nan

    @property
    def spillover(self) -> float:
        """Share of tokens over unchanged text that changed anyway: drift beyond the edit itself."""
        return self.spilled_tokens / self.untouched_tokens if self.untouched_tokens else math.nan

    def to_dict(self) -> dict:
        return {"rewrite": self.rewrite, "samples": self.samples, "drift_rate": self.drift_rate,
                "edit_distance": self.edit_distance, "relative_distance": self.relative_distance,
                "token_delta": self.token_delta, "spillover": self.spillover}


def _spans(enc, text: str) -> list[tuple[int, int, int]] | None:
    """(start byte, end byte, id) of each token, or None when the tokens do not spell the text."""
    if enc.token_bytes is None:
        return None
    ids = enc.encode(text)
    out, pos = [], 0
    for i in ids:
        n = len(enc.token_bytes(i))
        out.append((pos, pos + n, i))
        pos += n
    return out if pos == len(text.encode("utf-8")) else None


def spillover_counts(tok, original: str, rewritten: str) -> tuple[int, int]:
    """(tokens of ``original`` over bytes the rewrite kept, how many of them are gone from
    ``rewritten``'s tokenization). Kept bytes are the matching blocks of a byte diff."""
    import difflib

    enc = as_encoder(tok)
    a_spans, b_spans = _spans(enc, original), _spans(enc, rewritten)
    if a_spans is None or b_spans is None:
        return 0, 0
    a, b = original.encode("utf-8"), rewritten.encode("utf-8")
    blocks = difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    have = set(b_spans)
    starts = [i for i, _, _ in blocks]
    import bisect

    kept = spilled = 0
    for s, e, t in a_spans:
        k = bisect.bisect_right(starts, s) - 1
        if k < 0:
            continue
        i, j, n = blocks[k]
        if s >= i and e <= i + n:
            kept += 1
            spilled += (s - i + j, e - i + j, t) not in have
    return kept, spilled


def token_drift(tok, pairs: Iterable[tuple[str, str]], rewrite: str = "") -> Drift:
    """Drift between the tokenizations of (original, rewritten) pairs."""
    enc = as_encoder(tok)
    out = Drift(rewrite)
    dist, rel, delta = [], [], []
    for a, b in pairs:
        ia, ib = enc.encode(a), enc.encode(b)
        d = edit_distance(ia, ib)
        out.samples += 1
        out.changed += ia != ib
        dist.append(d)
        rel.append(d / max(len(ia), 1))
        delta.append(len(ib) - len(ia))
        kept, spilled = spillover_counts(enc, a, b)
        out.untouched_tokens += kept
        out.spilled_tokens += spilled
    if out.samples:
        out.edit_distance, out.relative_distance, out.token_delta = (float(np.mean(dist)), float(np.mean(rel)),
                                                                     float(np.mean(delta)))
    return out


def code_samples(sources: Iterable[str], max_samples: int = 200, max_lines: int = 40) -> list[str]:
    """Top-level functions (dedented methods too) of real Python sources, 3..``max_lines`` lines each."""
    import textwrap

    out = []
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                if not 3 <= node.end_lineno - node.lineno + 1 <= max_lines or node.decorator_list:
                    continue
                seg = ast.get_source_segment(src, node, padded=True)
                if seg is None:
                    continue
                seg = textwrap.dedent(seg)
                try:
                    ast.parse(seg)
                except SyntaxError:
                    continue
                out.append(seg if seg.endswith("\n") else seg + "\n")
                if len(out) >= max_samples:
                    return out
    return out


def drift_suite(tokenizers: Mapping[str, object], code: Sequence[str] = (), texts: Sequence[str] = (),
                code_rewrites: Iterable[str] | None = None, text_rewrites: Iterable[str] | None = None) -> \
        dict[str, list[dict]]:
    """``{tokenizer: [drift rows]}`` for every verified code rewrite of ``code`` samples and text
    rewrite of ``texts``. Rows also say on how many samples the rewrite applied."""
    code_rewrites = list(CODE_REWRITES if code_rewrites is None else code_rewrites)
    text_rewrites = list(TEXT_REWRITES if text_rewrites is None else text_rewrites)
    unknown = [r for r in code_rewrites if r not in CODE_REWRITES] + [r for r in text_rewrites
                                                                      if r not in TEXT_REWRITES]
    if unknown:
        raise InvalidInputError(f"unknown rewrites {unknown}; code: {', '.join(CODE_REWRITES)}; "
                                f"text: {', '.join(TEXT_REWRITES)}")
    pairs: dict[str, list[tuple[str, str]]] = {}
    for r in code_rewrites:
        pairs[f"code:{r}"] = [(s, o) for s in code if (o := rewrite_code(s, r)) is not None]
    for r in text_rewrites:
        pairs[f"text:{r}"] = [(s, o) for s in texts if (o := rewrite_text(s, r)) is not None]
    return {name: [token_drift(tok, p, r).to_dict() for r, p in pairs.items()] for name, tok in tokenizers.items()}


# ---------------------------------------------------------------------------- audit
def language_scripts(text: str, min_share: float = 0.1) -> list[str]:
    """The scripts that hold at least ``min_share`` of the letters of ``text`` (Japanese: Han, Hiragana,
    Katakana), most frequent first."""
    counts: dict[str, int] = {}
    for ch in text:
        sc = char_script(ch)
        if sc:
            counts[sc] = counts.get(sc, 0) + 1
    total = sum(counts.values())
    return [sc for sc, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= min_share * total]


def script_audit(tok, parallel: Mapping[str, Sequence[str]], progress: bool = False, embeddings=None,
                 known_unused: Sequence[int] | None = None) -> list[dict]:
    """Per language: the vocabulary tokens of its scripts (all letters in one of them), how many are
    unreachable (:func:`~tokenlab.evaluate.health.unreachable_tokens`), how many the language's text
    never uses, and the share of the text's tokens that are of its scripts. With the model's
    (un)embedding matrix, also how many are under-trained by Magikarp's weight indicator
    (:func:`~tokenlab.evaluate.health.undertrained_tokens`, calibrated on ``known_unused`` ids,
    default: all unreachable tokens of the vocabulary)."""
    from .health import undertrained_tokens, unreachable_tokens

    enc = as_encoder(tok)
    tokens = enc.vocab_tokens()
    by_script: dict[str, list[int]] = {}
    for i, b in tokens.items():
        by_script.setdefault(token_category(b), []).append(i)
    scripts = {lang: language_scripts("".join(lines)) for lang, lines in parallel.items()}
    wanted = sorted({i for names in scripts.values() for sc in names for i in by_script.get(sc, [])})
    dead = set(unreachable_tokens(enc, progress=progress, ids=wanted))
    weak: set[int] | None = None
    if embeddings is not None:
        known = list(known_unused) if known_unused is not None else unreachable_tokens(enc, progress=progress)
        if not known:
            raise InvalidInputError("no unreachable tokens to calibrate the weight indicator; give known-unused ids")
        weak = set(undertrained_tokens(embeddings, known))
    rows = []
    for lang, lines in parallel.items():
        own = {i for sc in scripts[lang] for i in by_script.get(sc, [])}
        used: dict[int, int] = {}
        for line in lines:
            for i in enc.encode(line):
                used[i] = used.get(i, 0) + 1
        total = sum(used.values())
        in_script = sum(c for i, c in used.items() if i in own)
        rows.append({"language": lang, "scripts": "+".join(scripts[lang]), "script_tokens": len(own),
                     "vocab_share": len(own) / max(len(tokens), 1),
                     "unreachable": sum(i in dead for i in own),
                     "unused_on_text": sum(i not in used for i in own),
                     "text_tokens_in_script": in_script / total if total else math.nan})
        if weak is not None:
            rows[-1]["undertrained"] = sum(i in weak for i in own)
    return rows
