"""Initialise the embedding matrix of a new vocabulary from an old model's (FOCUS/WECHSEL style).

For every id of the new tokenizer (``E`` = old matrix, ``b`` = the new token's bytes):

* **copied** - ``b`` is an ordinary token of the old tokenizer: ``E_new[i] = E[old_id(b)]``.
* **composed** - otherwise. ``d = (d_1..d_m)`` is the old tokenizer's encoding of ``b``.
  ``local = sum_j w_j E[d_j] / sum_j w_j`` with ``w_j = 1`` (``weighting="mean"``) or
  ``w_j = len(bytes(d_j))`` (``"length"``). ``global`` is a similarity-weighted mean of the
  ``top_k`` copied tokens closest to the new token, weights ``softmax(s / temperature)`` over the
  top ``k``. Similarity ``s_o``: ``similarity="embedding"``: ``cos(local, E[o])`` in the old
  embedding space; ``"ngram"``: cosine of the byte n-gram count vectors (orders ``ngram_orders``)
  of the two tokens' bytes, a spelling space independent of the decomposition (FOCUS uses fastText
  vectors trained on target text for this role). A token similar to no copied token (all
  ``s <= 0``) keeps ``global = local``.
  ``E_new[i] = local_weight * local + (1 - local_weight) * global``
  (``top_k=0`` or no copied tokens: ``E_new[i] = local``).
* **special** - a special token of the new tokenizer: copied from the old special token of the
  same string if there is one, else the mean of the old ordinary-token rows ("special-mean").
* **unused** - ids with no token (gaps): the mean row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FormatError, InvalidInputError
from .healing import token_index, vocab_bytes

COPIED, COMPOSED, UNUSED = "copied", "composed", "unused"
SPECIAL_COPIED, SPECIAL_MEAN = "special-copied", "special-mean"
SOURCE_KINDS = (COPIED, COMPOSED, SPECIAL_COPIED, SPECIAL_MEAN, UNUSED)


@dataclass
class EmbeddingTransfer:
    """The new matrix, how each row was made (``kinds[i]`` indexes ``SOURCE_KINDS``), and the
    old ids each composed row was built from."""

    matrix: np.ndarray
    kinds: np.ndarray
    decompositions: dict[int, list[int]] = field(default_factory=dict, repr=False)

    def counts(self) -> dict[str, int]:
        c = np.bincount(self.kinds, minlength=len(SOURCE_KINDS))
        return {name: int(c[k]) for k, name in enumerate(SOURCE_KINDS)}


def _specials(tok) -> dict[str, int]:
    return dict(getattr(tok, "special_tokens", None) or {})


def decompose(old_tokenizer, data: bytes) -> list[int]:
    """How the old tokenizer spells ``data``: its encoding of the text, or (for byte fragments
    that are not valid UTF-8) BPE over the bytes as one piece, else greedy longest match."""
    ids: list[int] | None = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        encode_ordinary = getattr(old_tokenizer, "encode_ordinary", None)
        try:
            ids = list(encode_ordinary(text)) if encode_ordinary else list(old_tokenizer.encode(text))
        except (ValueError, TypeError):
            ids = None
    elif hasattr(old_tokenizer, "pair_table") and hasattr(old_tokenizer, "byte_ids"):
        from ..encode.bpe import bpe_merge

        ids = bpe_merge([old_tokenizer.byte_ids[b] for b in data], old_tokenizer.pair_table)
    if ids is not None:
        try:
            if b"".join(old_tokenizer.token_bytes(i) for i in ids) == data:
                return ids
        except (ValueError, KeyError, IndexError):
            pass
    return _greedy(token_index(old_tokenizer), data)


def _greedy(index, data: bytes) -> list[int]:
    out, pos = [], 0
    while pos < len(data):
        hits = index.prefixes_of(data[pos:], proper=False)
        if not hits:
            pos += 1  # a byte the old vocabulary cannot spell: skipped
            continue
        n, t = hits[-1]
        out.append(t)
        pos += n
    return out


def transfer_embeddings(old_tokenizer, new_tokenizer, old_embeddings, *, top_k: int = 10,
                        local_weight: float = 0.5, temperature: float = 0.1, weighting: str = "mean",
                        similarity: str = "embedding", ngram_orders: tuple[int, ...] = (1, 2, 3),
                        progress: bool = False, chunk_rows: int = 256) -> EmbeddingTransfer:
    """Build the embedding matrix for ``new_tokenizer`` (see the module docstring for the formula)."""
    E = np.asarray(old_embeddings)
    if E.ndim != 2 or not np.issubdtype(E.dtype, np.floating):
        raise InvalidInputError(f"old embeddings must be a 2-D float matrix, got shape {E.shape} dtype {E.dtype}")
    if similarity not in ("embedding", "ngram"):
        raise InvalidInputError(f"similarity must be 'embedding' or 'ngram', got {similarity!r}")
    if weighting not in ("mean", "length"):
        raise InvalidInputError(f"weighting must be 'mean' or 'length', got {weighting!r}")
    if not 0.0 <= local_weight <= 1.0:
        raise InvalidInputError(f"local_weight must be in [0, 1], got {local_weight}")
    if top_k < 0 or temperature <= 0:
        raise InvalidInputError("top_k must be >= 0 and temperature > 0")
    old_table = vocab_bytes(old_tokenizer)
    old_specials = _specials(old_tokenizer)
    need = max([i for i, b in enumerate(old_table) if b] + list(old_specials.values())) + 1
    if E.shape[0] < need:
        raise InvalidInputError(f"old embeddings have {E.shape[0]} rows but the old tokenizer uses ids up to "
                                f"{need - 1}")
    work = E.astype(np.float64)
    old_ids = {b: i for i, b in enumerate(old_table) if b}
    mean_row = work[sorted(old_ids.values())].mean(axis=0)

    new_table = vocab_bytes(new_tokenizer)
    new_specials = _specials(new_tokenizer)
    size = max(len(new_table), max(new_specials.values(), default=-1) + 1)
    out = np.empty((size, E.shape[1]), dtype=np.float64)
    kinds = np.full(size, SOURCE_KINDS.index(UNUSED), dtype=np.int64)
    out[:] = mean_row

    copied_new: list[int] = []
    copied_old: list[int] = []
    composed: list[int] = []
    decompositions: dict[int, list[int]] = {}
    for i, b in enumerate(new_table):
        if not b:
            continue
        j = old_ids.get(b)
        if j is not None:
            copied_new.append(i)
            copied_old.append(j)
        else:
            composed.append(i)
    out[copied_new] = work[copied_old]
    kinds[copied_new] = SOURCE_KINDS.index(COPIED)
    for s, i in new_specials.items():
        if s in old_specials:
            out[i] = work[old_specials[s]]
            kinds[i] = SOURCE_KINDS.index(SPECIAL_COPIED)
        else:
            out[i] = mean_row
            kinds[i] = SOURCE_KINDS.index(SPECIAL_MEAN)

    # local: (weighted) mean of the old tokens each new token decomposes into
    local = np.empty((len(composed), E.shape[1]), dtype=np.float64)
    bar = _bar(len(composed), progress, "compose")
    for r, i in enumerate(composed):
        parts = decompose(old_tokenizer, new_table[i])
        decompositions[i] = parts
        if not parts:
            local[r] = mean_row
        else:
            w = np.ones(len(parts)) if weighting == "mean" else np.array([len(old_table[p]) for p in parts], float)
            local[r] = (w[:, None] * work[parts]).sum(axis=0) / w.sum()
        bar.update(1)
    bar.close()

    result = local
    if composed and copied_old and top_k > 0 and local_weight < 1.0:
        anchors = work[copied_old]
        if similarity == "embedding":
            sims_for = _embedding_similarity(local, anchors)
        else:
            sims_for = _ngram_similarity([new_table[i] for i in composed], [new_table[i] for i in copied_new],
                                         ngram_orders)
        glob = _top_k_mix(sims_for, len(composed), anchors, local, top_k, temperature, chunk_rows, progress)
        result = local_weight * local + (1.0 - local_weight) * glob
    if composed:
        out[composed] = result
        kinds[composed] = SOURCE_KINDS.index(COMPOSED)
    return EmbeddingTransfer(matrix=out.astype(E.dtype), kinds=kinds, decompositions=decompositions)


def _embedding_similarity(local: np.ndarray, anchors: np.ndarray):
    """Cosine between composed rows' local vectors and the copied rows, a chunk of rows at a time."""
    anchors_unit = anchors / np.maximum(np.linalg.norm(anchors, axis=1, keepdims=True), 1e-300)

    def sims(lo: int, hi: int) -> np.ndarray:
        q = local[lo:hi]
        return (q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)) @ anchors_unit.T

    return sims


def _ngram_counts(tokens: list[bytes], orders) -> list[dict[bytes, int]]:
    out = []
    for t in tokens:
        c: dict[bytes, int] = {}
        for n in orders:
            for k in range(len(t) - n + 1):
                g = t[k : k + n]
                c[g] = c.get(g, 0) + 1
        out.append(c)
    return out


def _ngram_similarity(queries: list[bytes], anchors: list[bytes], orders):
    """Cosine between byte n-gram count vectors (exact, sparse; needs scipy)."""
    try:
        from scipy import sparse
    except ImportError:
        raise InvalidInputError("similarity='ngram' needs scipy (pip install 'tokenlab[eval]')") from None
    if not orders or min(orders) < 1:
        raise InvalidInputError(f"ngram_orders must be positive integers, got {orders!r}")
    columns: dict[bytes, int] = {}
    anchor_counts = _ngram_counts(anchors, orders)
    for c in anchor_counts:
        for g in c:
            columns.setdefault(g, len(columns))
    query_counts = _ngram_counts(queries, orders)

    def matrix(counts):
        rows, cols, vals, norms = [], [], [], []
        for r, c in enumerate(counts):
            norms.append(np.sqrt(sum(v * v for v in c.values())))
            for g, v in c.items():
                col = columns.get(g)
                if col is not None:
                    rows.append(r)
                    cols.append(col)
                    vals.append(v)
        m = sparse.csr_matrix((np.asarray(vals, float), (rows, cols)), shape=(len(counts), max(len(columns), 1)))
        return m, np.maximum(np.asarray(norms, float), 1e-300)

    A, a_norm = matrix(anchor_counts)
    Q, q_norm = matrix(query_counts)
    At = A.T.tocsc()

    def sims(lo: int, hi: int) -> np.ndarray:
        dots = (Q[lo:hi] @ At).toarray()
        return dots / q_norm[lo:hi, None] / a_norm[None, :]

    return sims


def _top_k_mix(sims_for, rows: int, anchors: np.ndarray, local: np.ndarray, top_k: int, temperature: float,
               chunk_rows: int, progress: bool) -> np.ndarray:
    """Softmax(s / T)-weighted mean of each row's ``top_k`` most similar anchors; rows similar to
    no anchor at all (every s <= 0) keep their local vector."""
    k = min(top_k, anchors.shape[0])
    glob = np.empty_like(local)
    bar = _bar(rows, progress, "similar")
    for lo in range(0, rows, chunk_rows):
        hi = min(rows, lo + chunk_rows)
        sims = sims_for(lo, hi)
        if k < sims.shape[1]:
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
        top_s = np.take_along_axis(sims, top, axis=1)
        w = np.exp((top_s - top_s.max(axis=1, keepdims=True)) / temperature)
        w /= w.sum(axis=1, keepdims=True)
        glob[lo:hi] = np.einsum("rk,rkd->rd", w, anchors[top])
        unrelated = top_s.max(axis=1) <= 0
        glob[lo:hi][unrelated] = local[lo:hi][unrelated]
        bar.update(hi - lo)
    bar.close()
    return glob


def _bar(total: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not progress, desc=desc, unit="tok")


# ------------------------------------------------------------------------------------ file I/O
COMMON_EMBEDDING_NAMES = ("embeddings", "embed_tokens.weight", "wte.weight", "word_embeddings.weight",
                          "tok_embeddings.weight", "embedding.weight", "shared.weight")


def load_embeddings(path, tensor: str | None = None) -> np.ndarray:
    """An embedding matrix from ``.npy``, ``.npz`` or ``.safetensors`` (only ``tensor`` is read).
    Without ``tensor``: the file's only tensor, or one whose name ends like a common embedding name."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise FormatError(f"{path}: not a readable .npy array ({exc})") from None
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                name = _pick(list(z.files), tensor, path)
                return z[name]
        except InvalidInputError:
            raise
        except (ValueError, OSError) as exc:
            raise FormatError(f"{path}: not a readable .npz archive ({exc})") from None
    if suffix == ".safetensors":
        try:
            from safetensors import SafetensorError, safe_open
        except ImportError:
            raise InvalidInputError("reading .safetensors needs the 'safetensors' package "
                                    "(pip install 'tokenlab[safetensors]')") from None
        try:
            with safe_open(str(path), framework="np") as f:
                name = _pick(list(f.keys()), tensor, path)
                return f.get_tensor(name)
        except InvalidInputError:
            raise
        except (SafetensorError, OSError) as exc:
            raise FormatError(f"{path}: not a readable safetensors file ({exc})") from None
        except TypeError as exc:  # e.g. bfloat16, which numpy has no dtype for
            raise FormatError(f"{path}: cannot read tensor as numpy ({exc}); convert it to float32 first") from None
    raise InvalidInputError(f"{path}: unknown embeddings format {suffix!r} (use .npy, .npz or .safetensors)")


def _pick(names: list[str], tensor: str | None, path) -> str:
    if tensor is not None:
        if tensor not in names:
            raise InvalidInputError(f"{path}: no tensor {tensor!r}; it has {', '.join(sorted(names)[:20])}")
        return tensor
    if len(names) == 1:
        return names[0]
    suffixes = tuple("." + c for c in COMMON_EMBEDDING_NAMES)
    hits = [n for n in names if n in COMMON_EMBEDDING_NAMES or n.endswith(suffixes)]
    if len(hits) == 1:
        return hits[0]
    raise InvalidInputError(f"{path}: {len(names)} tensors; pick one with --tensor "
                            f"(e.g. {', '.join(sorted(hits or names)[:8])})")


def save_embeddings(path, matrix: np.ndarray, *, tensor: str = "embeddings", metadata: dict | None = None) -> None:
    """Write ``matrix`` atomically as ``.safetensors`` (tensor ``tensor``) or ``.npy``."""
    from ..io.atomic import atomic_path

    path = Path(path)
    matrix = np.ascontiguousarray(matrix)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, matrix, allow_pickle=False)
        return
    if suffix != ".safetensors":
        raise InvalidInputError(f"{path}: output must end in .safetensors or .npy")
    try:
        from safetensors.numpy import save_file
    except ImportError:
        raise InvalidInputError("writing .safetensors needs the 'safetensors' package "
                                "(pip install 'tokenlab[safetensors]')") from None
    with atomic_path(path) as tmp:
        save_file({tensor: matrix}, str(tmp), metadata={str(k): str(v) for k, v in (metadata or {}).items()})
