"""The C kernel (``tokenlab.kernels._bpe``) behind `Tokenizer`: tables built once per tokenizer.

Same encode interface as the numba `FastBPE` (``encode_bytes``, ``encode_texts``, ``split_ends``; decode is
``decode_bytes``, which reads the ids itself) so `Tokenizer` takes whichever is available: C first (no JIT,
fastest), then numba, then pure Python. Ids are identical on all three (tests compare them).
"""

from __future__ import annotations

from ..kernels import bpe as _kernel
from ..specials import utf8
from .patterns import pattern_id

NO_RANK = 0x7FFFFFFF


class NativeBPE:
    """Flat tables of one byte-level BPE tokenizer, handed to the C kernel."""

    takes_str = True  # the kernel reads a str's UTF-8 buffer itself (no copy for ASCII text)

    def __init__(self, tok, pattern: int):
        self._start(native_tables(tok, pattern))

    @classmethod
    def from_tables(cls, tables: dict) -> NativeBPE:
        """The kernel built straight from :func:`native_tables` (e.g. read back from a compiled vocabulary)."""
        self = cls.__new__(cls)
        self._start(tables)
        return self

    def _start(self, t: dict) -> None:
        self.pattern = t["pattern"]
        self.kernel = _kernel.Encoder(t["cls"], t["blob"], t["off"], t["ids"], t["ranks"], t["byte_ids"], t["pairs"],
                                      t["pattern"], t["split_digits"], t["ignore_merges"], t["any_split"])

    def encode_bytes(self, data, as_list: bool = False):
        """Ids of one text (str, or valid UTF-8 bytes): a uint32 array, or a list."""
        try:
            if as_list:
                return self.kernel.encode(data, True)
            import numpy as np

            return np.frombuffer(self.kernel.encode(data, False), dtype=np.uint32)
        except UnicodeEncodeError:
            utf8(data)  # raises the library's error naming the lone surrogate
            raise

    def encode_texts(self, texts: list[str], to_bytes=None, num_threads: int = 1, as_list: bool = True) -> list:
        """Ids per text; the kernel reads each str's UTF-8 directly and runs POSIX threads."""
        try:
            out = self.kernel.encode_batch(texts, int(num_threads), as_list)
        except UnicodeEncodeError:
            for t in texts:
                utf8(t)
            raise
        if as_list:
            return out
        import numpy as np

        return [np.frombuffer(b, dtype=np.uint32) for b in out]

    def split_ends(self, data):
        import numpy as np

        return np.asarray(self.kernel.split(data), dtype=np.int64)

    def decode_bytes(self, ids) -> bytes:
        """Joined token bytes; IndexError(position) on an unknown id."""
        return self.kernel.decode(ids)


def native_tables(tok, pattern: int) -> dict:
    """Everything the kernel's constructor takes, as bytes-like buffers and flags (see ``Encoder`` in _bpe.c)."""
    import numpy as np

    table = tok.id_to_bytes
    n_vocab = len(table)
    lens = np.fromiter((len(b) if b is not None else 0 for b in table), dtype=np.uint64, count=n_vocab)
    off = np.zeros(n_vocab + 1, dtype=np.uint64)
    np.cumsum(lens, out=off[1:])
    blob = b"".join(b for b in table if b is not None)
    ids = np.fromiter(tok.vocab.values(), dtype=np.uint32, count=len(tok.vocab))
    if tok.any_split:  # a pair's rank is that of the token it spells (see Tokenizer.pair_table)
        merge_ranks = tok.merge_ranks
        ranks = np.fromiter((merge_ranks.get(t, NO_RANK) for t in tok.vocab), dtype=np.uint32, count=len(ids))
        pairs = np.zeros(0, dtype=np.uint32)
    else:
        ranks = np.full(len(ids), NO_RANK, dtype=np.uint32)
        pt = tok.pair_table
        pairs = np.fromiter((x for (a, b), (r, m) in pt.items() for x in (a, b, r, m)), dtype=np.uint32,
                            count=4 * len(pt))
    from .unicode_table import class_table

    return {"cls": class_table(), "blob": blob, "off": off, "ids": ids, "ranks": ranks,
            "byte_ids": np.asarray(tok.byte_ids, dtype=np.uint32), "pairs": pairs, "pattern": pattern,
            "split_digits": int(tok.pretokenizer.split_digits or 0), "ignore_merges": bool(tok.ignore_merges),
            "any_split": bool(tok.any_split)}


def native_eligible(tok) -> int | None:
    """The kernel's pattern id for ``tok``, or None where the kernel is missing or cannot take it."""
    if _kernel is None:
        return None
    pid = pattern_id(tok.pretokenizer)
    if pid is None or tok.n_vocab > 4 * (len(tok.vocab) + len(tok.special_tokens)) + (1 << 20):
        return None
    return pid


def native_encoder_for(tok) -> NativeBPE | None:
    """A NativeBPE for ``tok``, or None where the kernel is missing or the pattern is custom."""
    pid = native_eligible(tok)
    if pid is None:
        return None
    try:
        return NativeBPE(tok, pid)
    except ValueError:  # tables the kernel cannot hold (e.g. an empty token): the numba / Python paths take it
        return None
