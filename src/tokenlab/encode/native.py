"""The C kernel (``tokenlab.kernels._bpe``) behind `Tokenizer`: tables built once per tokenizer.

Same encode interface as the numba `FastBPE` (``encode_bytes``, ``encode_texts``, ``split_ends``; decode is
``decode_bytes``, which reads the ids itself) so `Tokenizer` takes whichever is available: C first (no JIT,
fastest), then numba, then pure Python. Ids are identical on all three (tests compare them).

Pre-tokenizers: the named patterns and the cl100k family (Llama-3, Qwen, ...; `patterns.family`) run on the
kernel's state machines (`NativeBPE`); any other regex is split by the ``regex`` module with tiktoken's Unicode
classes pinned (`PreTokenizer.split`) and its pieces go to the kernel in one call (`NativeRegexBPE`).
"""

from __future__ import annotations

from ..kernels import bpe as _kernel
from ..specials import utf8
from .patterns import DEEPSEEK, native_pattern_id

NO_RANK = 0x7FFFFFFF


class NativeBPE:
    """Flat tables of one byte-level BPE tokenizer, handed to the C kernel."""

    takes_str = True  # the kernel reads a str's UTF-8 buffer itself (no copy for ASCII text)

    def __init__(self, tok, pattern: int, split_digits: int | None = None, classes=None):
        self._start(native_tables(tok, pattern, split_digits, classes))

    @classmethod
    def from_tables(cls, tables: dict, module=None) -> NativeBPE:
        """The kernel built straight from :func:`native_tables` (e.g. read back from a compiled vocabulary).
        module: another build of the kernel (``kernels.bpe_baseline``), for comparing builds."""
        self = cls.__new__(cls)
        self._start(tables, module)
        return self

    def _start(self, t: dict, module=None) -> None:
        self.pattern = t["pattern"]
        self.kernel = (module or _kernel).Encoder(t["cls"], t["blob"], t["off"], t["ids"], t["ranks"], t["byte_ids"],
                                                  t["pairs"], t["pattern"], t["split_digits"], t["ignore_merges"],
                                                  t["any_split"])

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
            out = self.kernel.encode_batch(texts, int(num_threads), 1 if as_list else 3)
        except UnicodeEncodeError:
            for t in texts:
                utf8(t)
            raise
        if as_list:
            return out
        import numpy as np

        # views of one buffer: each text's ids where the kernel's threads wrote them (no copy to close the gaps)
        ids, bounds = np.frombuffer(out[0], dtype=np.uint32), np.frombuffer(out[1], dtype=np.int64).tolist()
        return [ids[a:b] for a, b in zip(bounds[0::2], bounds[1::2])]

    def split_ends(self, data):
        import numpy as np

        return np.asarray(self.kernel.split(data), dtype=np.int64)

    def decode_bytes(self, ids) -> bytes:
        """Joined token bytes; IndexError(position) on an unknown id."""
        return self.kernel.decode(ids)


class NativeRegexBPE(NativeBPE):
    """A regex pre-tokenizer the kernel has no state machine for. In the common subset (`regex_program`) the
    kernel's own backtracking matcher splits it; otherwise ``regex`` (C) cuts the text with tiktoken's Unicode
    classes pinned (`PreTokenizer.split`: digit chunks, stand-ins, gaps kept), then the kernel encodes all pieces
    in one call (``encode_split``: caches and merges as for its own pieces, no per-piece Python)."""

    def __init__(self, tok):
        super().__init__(tok, 0, split_digits=0)  # the kernel splits nothing: the pieces are given
        self.pattern = None
        self._split = tok.pretokenizer.split
        self.program = None
        if not tok.pretokenizer.split_digits and tok.pretokenizer.regex_str:
            from .regex_program import compile_program

            self.program = compile_program(tok.pretokenizer.regex_str)

    def encode_bytes(self, data, as_list: bool = False):
        import numpy as np

        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        try:
            prog = self.program
            if prog is not None:  # the kernel's matcher; None back when it backtracks past its budget
                out = self.kernel.encode_regex(text, prog.cid, prog.masks, prog.prog, as_list)
                if out is not None:
                    return out if as_list else np.frombuffer(out, dtype=np.uint32)
            out = self.kernel.encode_split(text, self._split(text), as_list)
        except UnicodeEncodeError:
            utf8(text)  # raises the library's error naming the lone surrogate
            raise
        return out if as_list else np.frombuffer(out, dtype=np.uint32)

    def encode_texts(self, texts: list[str], to_bytes=None, num_threads: int = 1, as_list: bool = True) -> list:
        """Ids per text (in this thread: the regex holds the GIL, so threads would not run it in parallel)."""
        return [self.encode_bytes(t, as_list=as_list) for t in texts]

    def split_ends(self, data):
        import numpy as np

        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        return np.cumsum([len(utf8(p)) for p in self._split(text)], dtype=np.int64)


def native_tables(tok, pattern: int, split_digits: int | None = None, classes=None) -> dict:
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
    if split_digits is None:
        split_digits = int(tok.pretokenizer.split_digits or 0)
        if pattern == DEEPSEEK:  # its first Split, \p{N}{1,3}, is the kernel's digit chunking
            split_digits = min(split_digits or 3, 3)
    if classes is None:
        from .unicode_table import class_table

        classes = class_table()
    return {"cls": classes, "blob": blob, "off": off, "ids": ids, "ranks": ranks,
            "byte_ids": np.asarray(tok.byte_ids, dtype=np.uint32), "pairs": pairs, "pattern": pattern,
            "split_digits": split_digits, "ignore_merges": bool(tok.ignore_merges), "any_split": bool(tok.any_split)}


def _fits(tok) -> bool:
    return _kernel is not None and tok.n_vocab <= 4 * (len(tok.vocab) + len(tok.special_tokens)) + (1 << 20)


def native_eligible(tok) -> int | None:
    """The kernel's state-machine pattern id for ``tok`` (what a compiled vocabulary stores), or None."""
    return native_pattern_id(tok.pretokenizer) if _fits(tok) else None


def native_encoder_for(tok) -> NativeBPE | None:
    """A NativeBPE for ``tok`` (a state machine, or the regex path for other patterns), or None where the kernel
    is missing or cannot hold the tables."""
    if not _fits(tok):
        return None
    pid = native_pattern_id(tok.pretokenizer)
    try:
        return NativeBPE(tok, pid) if pid is not None else NativeRegexBPE(tok)
    except ValueError:  # tables the kernel cannot hold (e.g. an empty token): the numba / Python paths take it
        return None
