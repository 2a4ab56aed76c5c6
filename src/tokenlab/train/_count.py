"""Pretoken counting at native speed for the named pre-tokenizers (gpt2, cl100k, o200k, whitespace).

The pieces come from the encoder's compiled state machines (:mod:`tokenlab.encode.fast`, checked
there against the ``regex`` patterns); here each piece's bytes are hashed into an open-addressing
table without creating a Python object per piece. Python only sees the distinct pieces.
Importing this module needs numba; callers fall back to ``PreTokenizer.split`` when it fails.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, require_numba
from ..encode.fast import _split_kernel, class_table, pattern_id

require_numba()  # ImportError without numba (or with TOKENLAB_NO_NUMBA=1): callers fall back

_HUGE_DOC = 1 << 26
_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


@njit(cache=True, nogil=True)
def _count_kernel(buf, doc_off, tab, pattern, split_digits):
    """Distinct pieces of all docs as (start, length, count) arrays; pieces never cross doc bounds."""
    longest = 1
    for d in range(doc_off.shape[0] - 1):
        longest = max(longest, doc_off[d + 1] - doc_off[d])
    ends = np.empty(longest, dtype=np.int64)
    cap = 1 << 16
    slot_piece = np.full(cap, -1, dtype=np.int64)
    starts = np.empty(cap // 2, dtype=np.int64)
    lengths = np.empty(cap // 2, dtype=np.int64)
    counts = np.zeros(cap // 2, dtype=np.int64)
    hashes = np.empty(cap // 2, dtype=np.uint64)
    n_distinct = 0
    for d in range(doc_off.shape[0] - 1):
        a = doc_off[d]
        b = doc_off[d + 1]
        if b <= a:
            continue
        n = _split_kernel(buf[a:b], tab, pattern, split_digits, ends)
        s = a
        for k in range(n):
            if 2 * (n_distinct + 1) > cap:  # keep the table at most half full: double and rehash
                cap *= 2
                mask = cap - 1
                slot_piece = np.full(cap, -1, dtype=np.int64)
                for p in range(n_distinct):
                    j = np.int64(hashes[p] & np.uint64(mask))
                    while slot_piece[j] != -1:
                        j = (j + 1) & mask
                    slot_piece[j] = p
                grown = np.empty(cap // 2, dtype=np.int64)
                grown[:n_distinct] = starts[:n_distinct]
                starts = grown
                grown = np.empty(cap // 2, dtype=np.int64)
                grown[:n_distinct] = lengths[:n_distinct]
                lengths = grown
                grown = np.zeros(cap // 2, dtype=np.int64)
                grown[:n_distinct] = counts[:n_distinct]
                counts = grown
                grown_h = np.empty(cap // 2, dtype=np.uint64)
                grown_h[:n_distinct] = hashes[:n_distinct]
                hashes = grown_h
            mask = cap - 1
            e = a + ends[k]
            h = _FNV_OFFSET
            for i in range(s, e):
                h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
            j = np.int64(h & np.uint64(mask))
            while True:
                p = slot_piece[j]
                if p == -1:
                    slot_piece[j] = n_distinct
                    starts[n_distinct] = s
                    lengths[n_distinct] = e - s
                    hashes[n_distinct] = h
                    counts[n_distinct] = 1
                    n_distinct += 1
                    break
                if hashes[p] == h and lengths[p] == e - s:
                    same = True
                    first = starts[p]
                    for i in range(e - s):
                        if buf[first + i] != buf[s + i]:
                            same = False
                            break
                    if same:
                        counts[p] += 1
                        break
                j = (j + 1) & mask
            s = e
    return starts[:n_distinct].copy(), lengths[:n_distinct].copy(), counts[:n_distinct].copy()


def native_counter(pretokenizer):
    """A ``docs -> {piece bytes: count}`` function for this pre-tokenizer, or None if it has no state machine.

    The function returns None for a batch holding a document over 64 MB (count those with the regex).
    """
    pid = pattern_id(pretokenizer)
    if pid is None or pid == 0:
        return None
    split_digits = int(pretokenizer.split_digits or 0)
    table = class_table()

    def count(docs: list[str]) -> dict[bytes, int] | None:
        datas = [doc.encode("utf-8") for doc in docs]  # lone surrogates raise UnicodeEncodeError
        if any(len(x) > _HUGE_DOC for x in datas):  # the split buffer is 8 bytes per input byte
            return None
        data = b"".join(datas)
        doc_off = np.zeros(len(datas) + 1, dtype=np.int64)
        np.cumsum([len(x) for x in datas], out=doc_off[1:])
        buf = np.frombuffer(data, dtype=np.uint8)
        starts, lengths, counts = _count_kernel(buf, doc_off, table, pid, split_digits)
        return {data[s:s + n]: c for s, n, c in zip(starts.tolist(), lengths.tolist(), counts.tolist())}

    return count
