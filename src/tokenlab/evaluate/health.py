"""Token health: vocabulary entries a model can never see or never learned (Land & Bartolo 2024, "Magikarp").

Tokenizer-side indicators need only the tokenizer (and optionally a corpus); the weight-based
indicator needs the model's (un)embedding matrix.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FormatError, InvalidInputError
from .metrics import as_encoder


def partial_utf8_tokens(tok) -> list[int]:
    """Ids of tokens whose bytes are not valid UTF-8 on their own (pieces of a character).

    Normal in byte-level BPE, but they can only appear next to their complement, and a model
    emitting one alone produces an invalid string.
    """
    out = []
    for i, b in sorted(as_encoder(tok).vocab_tokens().items()):
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            out.append(i)
    return out


def unreachable_tokens(tok, progress: bool = False, ids=None) -> list[int]:
    """Ids of tokens whose own text does not encode to that token alone.

    Magikarp's definition: decode the token, encode the string, and compare. Such a token can
    still occur inside longer text only if pre-tokenization or merge order lets it, and often it
    cannot occur at all, so its embedding is never trained. Partial-UTF-8 tokens cannot be
    decoded to a string and are reported by :func:`partial_utf8_tokens` instead. ``ids``
    restricts the check to some token ids.
    """
    from tqdm import tqdm

    enc = as_encoder(tok)
    tokens = enc.vocab_tokens()
    if ids is not None:
        tokens = {i: tokens[i] for i in ids if i in tokens}
    # a model whose normalizer adds text (sentencepiece's dummy "▁") says how a token's text encodes in place
    encode = getattr(enc.model, "encode_token_text", None) or enc.encode
    out = []
    for i, b in tqdm(sorted(tokens.items()), desc="reachability", unit="tok", disable=not progress):
        try:
            text = b.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if encode(text) != [i]:
            out.append(i)
    return out


def unused_tokens(tok, texts) -> list[int]:
    """Ordinary token ids never produced when encoding ``texts`` (a reference corpus)."""
    enc = as_encoder(tok)
    if isinstance(texts, str):
        texts = [texts]
    used = set()
    for t in texts:
        used.update(enc.encode(t))
    return sorted(set(enc.vocab_tokens()) - used)


def _look(text: str) -> str:
    """What a reader sees: NFKC-folded, invisible format characters (zero-width etc.) removed."""
    return "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf")


def duplicate_looking_tokens(tok) -> list[list[int]]:
    """Groups of distinct tokens that render identically (NFKC equal once invisible characters are dropped).

    E.g. full-width and ASCII letters, a word with and without a zero-width joiner. They split
    training signal between near-synonyms and confuse anyone reading tokenizations.
    """
    groups: dict[str, list[int]] = {}
    for i, b in sorted(as_encoder(tok).vocab_tokens().items()):
        try:
            text = b.decode("utf-8")
        except UnicodeDecodeError:
            continue
        key = _look(text)
        if key:
            groups.setdefault(key, []).append(i)
    return [ids for ids in groups.values() if len(ids) > 1]


# ---------------------------------------------------------------------------- weights
def load_embeddings(path, key: str | None = None) -> np.ndarray:
    """A 2-D (vocab x dim) matrix from ``.npy`` or ``.safetensors``.

    For safetensors without ``key`` the unembedding (``lm_head``) is preferred, then the input
    embedding; any other 2-D tensor is used only if it is the only one.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    if path.suffix == ".npy":
        try:
            mat = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise FormatError(f"{path}: not a .npy array ({exc})") from None
    elif path.suffix == ".safetensors":
        mat = _load_safetensors(path, key)
    else:
        raise InvalidInputError(f"{path}: embeddings must be .npy or .safetensors")
    if mat.ndim != 2:
        raise FormatError(f"{path}: expected a 2-D (vocab x dim) matrix, got shape {mat.shape}")
    return np.asarray(mat, dtype=np.float32)


def _load_safetensors(path: Path, key: str | None) -> np.ndarray:
    try:
        from safetensors import safe_open
    except ImportError:
        raise InvalidInputError("reading .safetensors needs: pip install 'tokenlab[safetensors]'") from None
    try:
        with safe_open(str(path), framework="numpy") as f:
            names = list(f.keys())
            name = key or _pick_embedding(names, {n: f.get_slice(n).get_shape() for n in names})
            if name not in names:
                raise InvalidInputError(f"{path}: no tensor {name!r}; has {names[:10]}")
            try:
                return f.get_tensor(name)
            except (TypeError, ValueError):
                pass  # bfloat16 and friends: numpy has no dtype for them
    except (OSError, ValueError) as exc:  # safetensors raises SafetensorError (an Exception) too
        raise FormatError(f"{path}: not a safetensors file ({exc})") from None
    except Exception as exc:  # noqa: BLE001
        if isinstance(exc, InvalidInputError):
            raise
        raise FormatError(f"{path}: not a safetensors file ({exc})") from None
    import torch
    from safetensors.torch import load_file

    return load_file(str(path))[name].to(torch.float32).numpy()


def _pick_embedding(names: list[str], shapes: dict[str, list[int]]) -> str:
    matrices = [n for n in names if len(shapes[n]) == 2]
    for hint in ("lm_head", "unembed", "output.weight", "embed_out", "embed", "wte", "tok_embeddings"):
        hits = [n for n in matrices if hint in n]
        if hits:
            return hits[0]
    if len(matrices) == 1:
        return matrices[0]
    raise InvalidInputError(f"cannot tell which tensor is the embedding among {matrices[:10]}; pass a key")


def undertrained_scores(embeddings: np.ndarray, known_unused, remove_first_component: bool = True) -> np.ndarray:
    """Cosine similarity of each row to the mean row of tokens known to be unused.

    Magikarp's indicator: rows that were (almost) never updated stay close to each other, so a
    token whose unembedding points like the unused ones' mean is likely under-trained. The first
    principal component (a direction shared by all rows) is removed first, as in the paper.
    """
    mat = np.asarray(embeddings, dtype=np.float64)
    known = np.asarray(sorted(set(int(i) for i in known_unused)), dtype=np.int64)
    if mat.ndim != 2:
        raise InvalidInputError(f"embeddings must be 2-D, got shape {mat.shape}")
    if known.size == 0:
        raise InvalidInputError("need at least one token known to be unused (e.g. unreachable or reserved ids)")
    if known.min() < 0 or known.max() >= mat.shape[0]:
        raise InvalidInputError(f"known-unused ids must be < {mat.shape[0]} (rows of the matrix)")
    if remove_first_component:
        # uncentred, as in the paper: the top singular direction is the offset all rows share
        sample = mat[np.random.default_rng(0).permutation(len(mat))[:20_000]]
        _, _, vt = np.linalg.svd(sample, full_matrices=False)
        pc = vt[0]
        mat = mat - np.outer(mat @ pc, pc)
    ref = mat[known].mean(axis=0)
    norms = np.linalg.norm(mat, axis=1) * (np.linalg.norm(ref) or 1.0)
    return (mat @ ref) / np.where(norms == 0, 1.0, norms)


def undertrained_tokens(embeddings: np.ndarray, known_unused, quantile: float = 0.1,
                        remove_first_component: bool = True) -> list[int]:
    """Ids (not among ``known_unused``) that point like the known-unused rows.

    The cut-off is halfway between the median similarity of all rows (mostly trained tokens)
    and the ``quantile`` of the known-unused rows' own similarities: it adapts to the model
    instead of needing a hand-set cosine threshold, and one odd known-unused row cannot drag it
    down to the bulk.
    """
    scores = undertrained_scores(embeddings, known_unused, remove_first_component)
    known = set(int(i) for i in known_unused)
    threshold = 0.5 * (float(np.median(scores)) + float(np.quantile(scores[sorted(known)], quantile)))
    return [i for i in np.flatnonzero(scores >= threshold).tolist() if i not in known]


# ---------------------------------------------------------------------------- report
@dataclass
class HealthReport:
    name: str
    vocab_size: int
    unreachable: list[int]
    partial_utf8: list[int]
    duplicate_groups: list[list[int]]
    unused: list[int] | None = None
    undertrained: list[int] | None = None
    examples: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, int | None]:
        return {"vocab": self.vocab_size, "unreachable": len(self.unreachable),
                "partial_utf8": len(self.partial_utf8), "duplicate_groups": len(self.duplicate_groups),
                "unused_on_corpus": None if self.unused is None else len(self.unused),
                "undertrained": None if self.undertrained is None else len(self.undertrained)}

    def to_dict(self) -> dict:
        return {"name": self.name, "summary": self.summary(), "unreachable": self.unreachable,
                "partial_utf8": self.partial_utf8, "duplicate_groups": self.duplicate_groups,
                "unused": self.unused, "undertrained": self.undertrained, "examples": self.examples}


def token_health(tok, texts=None, embeddings: np.ndarray | None = None, known_unused=None,
                 progress: bool = False, name: str | None = None) -> HealthReport:
    """All indicators at once; weights are judged against ``known_unused``, else the unreachable tokens, else
    the tokens ``texts`` never use."""
    enc = as_encoder(tok, name)
    tokens = enc.vocab_tokens()
    unreachable = unreachable_tokens(enc, progress=progress)
    report = HealthReport(name=enc.name, vocab_size=len(tokens), unreachable=unreachable,
                          partial_utf8=partial_utf8_tokens(enc), duplicate_groups=duplicate_looking_tokens(enc))
    if texts is not None:
        report.unused = unused_tokens(enc, texts)
    if embeddings is not None:
        # calibrate against unreachable tokens; a fresh tokenizer has none, then tokens the corpus never uses
        known = list(known_unused) if known_unused is not None else (unreachable or report.unused or [])
        if not known:
            raise InvalidInputError("no unreachable or unused tokens to calibrate the weight indicator; "
                                    "give a corpus or known-unused ids")
        report.undertrained = undertrained_tokens(embeddings, known)
    show = lambda ids: [_shown(tokens[i]) for i in ids[:20] if i in tokens]  # noqa: E731
    report.examples = {"unreachable": show(report.unreachable), "partial_utf8": show(report.partial_utf8),
                       "duplicates": [" = ".join(show(g)) for g in report.duplicate_groups[:20]]}
    if report.unused is not None:
        report.examples["unused"] = show(report.unused)
    if report.undertrained is not None:
        report.examples["undertrained"] = show(report.undertrained)
    return report


def _shown(token: bytes) -> str:
    try:
        return repr(token.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(token)
