"""One comparison table for every registered trainer and inference method.

Each algorithm in `tokenlab.cli.core.ALGORITHMS` is trained on the same corpus at the same
vocabulary size and encodes the same held-out text; each extra method in ``METHODS`` is run
on the plain BPE tokenizer. Whatever other modules register is picked up at run time.

Columns: bytes/token (UTF-8 bytes of the held-out text per token; higher = better
compression), tokens/word (per whitespace-separated word), vocab use (share of the
emittable vocabulary that appears in the output), whether decode gives the text back, and
the change in bytes/token against plain BPE. With ``morphology`` (an analyser spec such as ``tr``,
``ru`` or ``morfessor``, or an :class:`~tokenlab.evaluate.linguistic.Analyser`), also morpheme-boundary
F1, %TR and %Pure of every row on the held-out text (``evaluate/linguistic.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .errors import InvalidInputError, TokenlabError


@dataclass
class Row:
    name: str
    kind: str  # "algorithm", "method" or "tokenizer"
    tokens: int = 0
    bytes_per_token: float = 0.0
    tokens_per_word: float = 0.0
    vocab_use: float = 0.0
    lossless: bool | None = None
    vs_bpe: float | None = None  # relative change of bytes/token against plain BPE
    train_seconds: float | None = None
    encode_seconds: float = 0.0
    boundary_f1: float | None = None  # morpheme-boundary F1 on the held-out text (with ``morphology``)
    tr_percent: float | None = None
    pure_percent: float | None = None
    morphology_error: str = ""  # why a row has no boundary scores (its tokens cannot be aligned to the text)
    error: str = ""


def _registries():
    import tokenlab.cli

    tokenlab.cli.load_commands()  # importing the command modules registers their algorithms and methods

    from .cli.core import ALGORITHMS, METHODS

    return ALGORITHMS, METHODS


def emittable_size(tok) -> int:
    """Ordinary tokens the model can output (scaffold tokens excluded)."""
    n = getattr(tok, "n_active", None)
    if n is not None:
        return int(n)
    vocab = getattr(tok, "vocab", None)
    if vocab is not None:
        return len(vocab)
    return max(1, int(getattr(tok, "n_vocab", 1)) - len(getattr(tok, "special_tokens", {}) or {}))


def _measure(row: Row, tok, ids, text: str) -> Row:
    ids = [int(i) for i in ids]
    n_bytes = len(text.encode("utf-8"))
    n_words = max(1, len(text.split()))
    row.tokens = len(ids)
    row.bytes_per_token = n_bytes / max(1, len(ids))
    row.tokens_per_word = len(ids) / n_words
    specials = set(getattr(tok, "special_tokens", {}).values())
    row.vocab_use = len(set(ids) - specials) / max(1, emittable_size(tok))
    try:
        row.lossless = tok.decode(ids) == text
    except TokenlabError:
        row.lossless = False
    return row


class _MethodView:
    """The base model seen through an inference method, so the linguistic scores see the method's ids."""

    def __init__(self, base, method):
        self.base, self.method = base, method
        self.token_bytes = getattr(base, "token_bytes", None)

    def encode(self, text: str) -> list[int]:
        return [int(i) for i in self.method(self.base, text)]

    def decode_bytes(self, ids) -> bytes:
        return self.base.decode_bytes(ids)


class _AnalysisCache:
    """One analysis of the held-out text shared by every row."""

    def __init__(self, analyser):
        self.analyser, self._memo = analyser, {}
        self.name, self.language = analyser.name, analyser.language

    def analyse(self, text: str):
        if text not in self._memo:
            self._memo[text] = self.analyser.analyse(text)
        return self._memo[text]

    def is_word(self, text: str) -> bool:
        return self.analyser.is_word(text)


def _morphology(row: Row, tok, text: str, analyser) -> None:
    from .evaluate.linguistic import morph_scores

    try:
        scores = morph_scores(tok, text, analyser)
    except TokenlabError as exc:  # e.g. a tokenizer whose decode does not give the text back cannot be aligned
        row.morphology_error = str(exc)[:200]
        return
    row.boundary_f1, row.tr_percent, row.pure_percent = scores.f1, scores.tr_percent, scores.pure_percent


def _encode(tok, text: str) -> list[int]:
    try:
        return tok.encode(text, disallowed_special=())
    except TypeError:  # a model without tiktoken's keyword
        return tok.encode(text)


def split_corpus(docs: Sequence[str], eval_fraction: float = 0.1) -> tuple[list[str], str]:
    """Whole documents from the end, about ``eval_fraction`` of the characters, are held out;
    a lone document is cut at a line end instead."""
    docs = [d for d in docs if d]
    if not docs:
        raise InvalidInputError("the corpus is empty")
    want = max(1, int(sum(len(d) for d in docs) * eval_fraction))
    if len(docs) == 1:
        last = docs[0]
        cut = len(last) - min(want, len(last) // 2)
        nl = last.rfind("\n", 0, cut)
        cut = nl + 1 if nl > 0 else cut
        return [last[:cut]], last[cut:]
    held, size = [], 0
    while len(docs) > 1 and size < want:
        d = docs.pop()
        held.append(d)
        size += len(d)
    return docs, "".join(reversed(held))


def research_table(
    docs: Sequence[str],
    vocab_size: int,
    algorithms: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    eval_text: str | None = None,
    eval_fraction: float = 0.1,
    pretokenizer: str = "gpt2",
    tokenizers: dict | None = None,
    max_eval_chars: int = 200_000,
    progress: bool = False,
    morphology=None,
) -> list[Row]:
    """Train every algorithm (default: all registered), run every method (default: all
    registered) on the BPE model, and measure all on held-out text.

    ``tokenizers``: already-built models to add as rows (name -> model), e.g. a WordPiece vocab.
    ``morphology``: an analyser spec (``tr``, ``ru``, ``ko``, ``ja``, ``zh_Hans``, ``morfessor`` - trained on
    the training text) or an ``Analyser``; adds boundary F1, %TR and %Pure on the held-out text.
    """
    algos, meths = _registries()
    algorithms = sorted(algos) if algorithms is None else list(algorithms)
    if methods is None:
        from .encode.methods import METHOD_ALIASES

        methods = sorted(m for m in meths if m != "merge" and m not in METHOD_ALIASES)
    else:
        methods = list(methods)
    for a in algorithms:
        if a not in algos:
            raise InvalidInputError(f"unknown algorithm {a!r}; registered: {', '.join(sorted(algos))}")
    for m in methods:
        if m not in meths:
            raise InvalidInputError(f"unknown method {m!r}; registered: {', '.join(sorted(meths))}")
    if eval_text is None:
        train_docs, eval_text = split_corpus(docs, eval_fraction)
    else:
        train_docs = [d for d in docs if d]
    if not train_docs or not eval_text:
        raise InvalidInputError("need non-empty training text and held-out text")
    eval_text = eval_text[:max_eval_chars]
    analyser = None
    if morphology is not None:
        from .evaluate.linguistic import analyser_for

        if isinstance(morphology, str):
            morphology = analyser_for(morphology, train_docs)
        analyser = _AnalysisCache(morphology)
        if not analyser.analyse(eval_text):
            raise InvalidInputError(f"the analyser {analyser.name!r} found no word of the held-out text to score")
    rows: list[Row] = []
    models: dict[str, object] = {}
    for name in algorithms:
        row = Row(name, "algorithm")
        try:
            start = time.perf_counter()
            tok = algos[name](iter(train_docs), vocab_size=vocab_size, pretokenizer=pretokenizer, special_tokens=(),
                              min_frequency=0, split_digits=None, progress=progress)
            row.train_seconds = time.perf_counter() - start
            start = time.perf_counter()
            ids = _encode(tok, eval_text)
            row.encode_seconds = time.perf_counter() - start
            models[name] = tok
            _measure(row, tok, ids, eval_text)
            if analyser is not None:
                _morphology(row, tok, eval_text, analyser)
        except Exception as exc:  # noqa: BLE001 - one broken trainer must not hide the others' results
            row.error = f"{type(exc).__name__}: {exc}"[:200]
        rows.append(row)
    base = models.get("bpe")
    if methods and base is None:
        from .train.bpe import train_bpe

        base = train_bpe(train_docs, vocab_size=vocab_size, pretokenizer=pretokenizer, progress=progress)
    for name in methods:
        row = Row(f"bpe + {name}", "method")
        try:
            start = time.perf_counter()
            ids = meths[name](base, eval_text)
            row.encode_seconds = time.perf_counter() - start
            _measure(row, base, ids, eval_text)
            if analyser is not None:
                _morphology(row, _MethodView(base, meths[name]), eval_text, analyser)
        except Exception as exc:  # noqa: BLE001 - reported in the row
            row.error = f"{type(exc).__name__}: {exc}"[:200]
        rows.append(row)
    for name, tok in (tokenizers or {}).items():
        row = Row(name, "tokenizer")
        try:
            start = time.perf_counter()
            ids = _encode(tok, eval_text)
            row.encode_seconds = time.perf_counter() - start
            _measure(row, tok, ids, eval_text)
            if analyser is not None:
                _morphology(row, tok, eval_text, analyser)
        except Exception as exc:  # noqa: BLE001 - reported in the row
            row.error = f"{type(exc).__name__}: {exc}"[:200]
        rows.append(row)
    ref = next((r for r in rows if r.name == "bpe" and not r.error), None)
    if ref is not None:
        for r in rows:
            if not r.error and r.tokens:
                r.vs_bpe = r.bytes_per_token / ref.bytes_per_token - 1
    return rows


def to_markdown(rows: Sequence[Row], title: str = "") -> str:
    """Markdown table; the boundary F1 / %TR / %Pure columns appear when any row has them."""
    head = ["tokenizer", "kind", "tokens", "bytes/token", "tokens/word", "vocab use", "lossless", "vs bpe",
            "train s", "encode s"]
    morph = any(r.boundary_f1 is not None for r in rows)
    if morph:
        head += ["boundary F1", "%TR", "%Pure"]
    lines = [f"{title}\n" if title else "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in rows:
        if r.error:
            cells = [r.name, r.kind, f"error: {r.error}".replace("|", "/")] + [""] * (len(head) - 3)
        else:
            cells = [
                r.name, r.kind, str(r.tokens), f"{r.bytes_per_token:.3f}", f"{r.tokens_per_word:.3f}",
                f"{100 * r.vocab_use:.1f}%", "yes" if r.lossless else "no",
                "" if r.vs_bpe is None else f"{100 * r.vs_bpe:+.1f}%",
                "" if r.train_seconds is None else f"{r.train_seconds:.1f}", f"{r.encode_seconds:.2f}",
            ]
            if morph:
                cells += ["n/a" if v is None else fmt.format(v) for v, fmt in
                          ((r.boundary_f1, "{:.3f}"), (r.tr_percent, "{:.1f}"), (r.pure_percent, "{:.1f}"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(line for line in lines if line) + "\n"


def to_json_rows(rows: Sequence[Row]) -> list[dict]:
    return [asdict(r) for r in rows]
