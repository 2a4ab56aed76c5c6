"""Native-speed encode/decode for byte-level BPE (numba; the pure-Python path is the fallback).

Why it is fast:
- the gpt2 / cl100k / o200k / whitespace pre-tokenizers are hand-written state machines that
  walk the UTF-8 bytes directly, classifying code points through a shipped table equal to
  tiktoken's Unicode classes (:mod:`tokenlab.encode.unicode_table`), so no regex engine and no
  Python string objects per piece;
- a piece that is a whole token (``ignore_merges``) is one open-addressing hash probe; other
  pieces go through a direct-mapped per-thread cache and then the rank-based merge, where a
  pair's rank is the rank of the token its bytes spell (tiktoken-style ``any_split``) or comes
  from a ``(left, right) -> (rank, merged)`` table (HF merges); long pieces use a heap;
- batches are cut into contiguous groups that run in threads (the kernels release the GIL).

Ids are identical to the pure-Python path (tests compare both, and cl100k against tiktoken).
Compiled code is cached on disk (``cache=True``): the first process pays the JIT once.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._jit import HAVE_NUMBA, njit  # numba is optional: without it the Tokenizer keeps its pure-Python path
from .patterns import PATTERN_IDS, pattern_id  # noqa: F401 - re-exported
from .unicode_table import LETTER, LOWERISH, NUMBER, SPACE, UPPERISH, class_table

_LNS = LETTER | NUMBER | SPACE
_SMALL = 256  # pieces up to this many bytes merge in place; longer ones use the heap
_CACHE_SLOTS = 1 << 15
_CACHE_KEY = 32  # longest piece (bytes) the cache stores
_CACHE_IDS = 16  # most ids a cached piece may have
_GROUP_CHARS = 1 << 22  # batches are encoded in groups of about this many characters
_THREADED_CHARS = 1 << 16  # smaller batches run in the calling thread
_SMALL_TEXT = 1 << 14  # texts up to this many bytes encode into per-cache reusable buffers
_EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)
# Helpers are compiled without reference counting (_nrt=False): they never allocate, and the
# incref/decref numba puts around every call that passes arrays cost more than the work itself.
_JIT = dict(cache=True, nogil=True, _nrt=False)
_KERNEL = dict(cache=True, nogil=True)  # functions that allocate arrays


# ---------------------------------------------------------------- UTF-8 and classes
@njit(**_JIT)
def _cp_at(buf, i):
    """Code point starting at byte i and its width (input is valid UTF-8 from str.encode)."""
    b0 = np.int64(buf[i])
    if b0 < 0x80:
        return b0, 1
    if b0 < 0xE0:
        return ((b0 & 0x1F) << 6) | (np.int64(buf[i + 1]) & 0x3F), 2
    if b0 < 0xF0:
        return ((b0 & 0x0F) << 12) | ((np.int64(buf[i + 1]) & 0x3F) << 6) | (np.int64(buf[i + 2]) & 0x3F), 3
    return (((b0 & 0x07) << 18) | ((np.int64(buf[i + 1]) & 0x3F) << 12)
            | ((np.int64(buf[i + 2]) & 0x3F) << 6) | (np.int64(buf[i + 3]) & 0x3F)), 4


@njit(**_JIT)
def _run(buf, tab, j, end, bits):
    """Advance over code points having any of ``bits``."""
    while j < end:
        c, w = _cp_at(buf, j)
        if not (tab[c] & bits):
            break
        j += w
    return j


@njit(**_JIT)
def _run_not(buf, tab, j, end, bits):
    """Advance over code points having none of ``bits``."""
    while j < end:
        c, w = _cp_at(buf, j)
        if tab[c] & bits:
            break
        j += w
    return j


@njit(**_JIT)
def _digits(buf, tab, j, end, count, limit):
    while count < limit and j < end:
        c, w = _cp_at(buf, j)
        if not (tab[c] & NUMBER):
            break
        j += w
        count += 1
    return j


@njit(**_JIT)
def _run_newlines(buf, j, end, slash):
    while j < end:
        b = buf[j]
        if b == 10 or b == 13 or (slash and b == 47):
            j += 1
        else:
            break
    return j


@njit(**_JIT)
def _space_run(buf, tab, i, end):
    """End of the whitespace run at i, end of its last CR/LF (-1 if none), start of its last char."""
    j = i
    last_nl = -1
    prev = i
    while j < end:
        c, w = _cp_at(buf, j)
        if not (tab[c] & SPACE):
            break
        prev = j
        j += w
        if c == 10 or c == 13:
            last_nl = j
    return j, last_nl, prev


@njit(**_JIT)
def _fold(c):
    if 65 <= c <= 90:
        return c + 32
    if c == 0x17F:  # LATIN SMALL LETTER LONG S folds to 's' under (?i)
        return 115
    return c


@njit(**_JIT)
def _contraction(buf, j, end, fold):
    """End of 's 't 'm 'd 're 've 'll after an apostrophe ending at j, or -1."""
    if j >= end:
        return -1
    c, w = _cp_at(buf, j)
    if fold:
        c = _fold(c)
    if c == 115 or c == 116 or c == 109 or c == 100:
        return j + w
    if j + w >= end:
        return -1
    c2, w2 = _cp_at(buf, j + w)
    if fold:
        c2 = _fold(c2)
    if (c == 108 and c2 == 108) or (c == 118 and c2 == 101) or (c == 114 and c2 == 101):
        return j + w + w2
    return -1


# ---------------------------------------------------------------- pre-tokenizer state machines
@njit(**_JIT)
def _next_gpt2(buf, tab, i, end):
    # 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    c, w = _cp_at(buf, i)
    k = tab[c]
    j = i + w
    if c == 39:
        r = _contraction(buf, j, end, False)
        if r >= 0:
            return r
    if c == 32 and j < end:
        c2, w2 = _cp_at(buf, j)
        k2 = tab[c2]
        if k2 & LETTER:
            return _run(buf, tab, j + w2, end, LETTER)
        if k2 & NUMBER:
            return _run(buf, tab, j + w2, end, NUMBER)
        if not (k2 & _LNS):
            return _run_not(buf, tab, j + w2, end, _LNS)
    if k & LETTER:
        return _run(buf, tab, j, end, LETTER)
    if k & NUMBER:
        return _run(buf, tab, j, end, NUMBER)
    if not (k & SPACE):
        return _run_not(buf, tab, j, end, _LNS)
    p, last_nl, prev = _space_run(buf, tab, i, end)
    if p == end or prev == i:
        return p
    return prev


@njit(**_JIT)
def _next_cl100k(buf, tab, i, end):
    # '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+
    # |\s++$|\s*[\r\n]|\s+(?!\S)|\s
    c, w = _cp_at(buf, i)
    k = tab[c]
    j = i + w
    if c == 39:
        r = _contraction(buf, j, end, True)
        if r >= 0:
            return r
    if k & LETTER:
        return _run(buf, tab, j, end, LETTER)
    if not (k & NUMBER) and c != 10 and c != 13 and j < end:
        c2, w2 = _cp_at(buf, j)
        if tab[c2] & LETTER:
            return _run(buf, tab, j + w2, end, LETTER)
    if k & NUMBER:
        return _digits(buf, tab, j, end, 1, 3)
    if c == 32 and j < end:
        c2, w2 = _cp_at(buf, j)
        if not (tab[c2] & _LNS):
            return _run_newlines(buf, _run_not(buf, tab, j + w2, end, _LNS), end, False)
    if not (k & _LNS):
        return _run_newlines(buf, _run_not(buf, tab, j, end, _LNS), end, False)
    p, last_nl, prev = _space_run(buf, tab, i, end)
    if p == end:
        return p
    if last_nl >= 0:
        return last_nl
    if prev > i:
        return prev
    return p


@njit(**_JIT)
def _o200k_lower_tail(buf, tab, p, end):
    """[UPPERISH]*[LOWERISH]+ at p with the regex's backtracking; end or -1."""
    q = p
    last_lower = -1
    while q < end:
        c, w = _cp_at(buf, q)
        k = tab[c]
        if not (k & UPPERISH):
            break
        q += w
        if k & LOWERISH:
            last_lower = q
    if q < end:
        c, w = _cp_at(buf, q)
        if tab[c] & LOWERISH:
            return _run(buf, tab, q + w, end, LOWERISH)
    return last_lower


@njit(**_JIT)
def _o200k_upper_head(buf, tab, p, end):
    """[UPPERISH]+[LOWERISH]* at p; end or -1."""
    q = _run(buf, tab, p, end, UPPERISH)
    if q == p:
        return -1
    return _run(buf, tab, q, end, LOWERISH)


@njit(**_JIT)
def _o200k_suffix(buf, r, end):
    if r < end and buf[r] == 39:
        s = _contraction(buf, r + 1, end, True)
        if s >= 0:
            return s
    return r


@njit(**_JIT)
def _next_o200k(buf, tab, i, end, contractions, digit_limit):
    """o200k; with contractions=False and digit_limit=1 it is Mistral's tekken pattern."""
    c, w = _cp_at(buf, i)
    k = tab[c]
    j = i + w
    lead = c != 10 and c != 13 and not (k & (LETTER | NUMBER))  # [^\r\n\p{L}\p{N}]
    for alt in range(2):
        r = -1
        if lead:
            r = _o200k_lower_tail(buf, tab, j, end) if alt == 0 else _o200k_upper_head(buf, tab, j, end)
        if r < 0:
            r = _o200k_lower_tail(buf, tab, i, end) if alt == 0 else _o200k_upper_head(buf, tab, i, end)
        if r >= 0:
            return _o200k_suffix(buf, r, end) if contractions else r
    if k & NUMBER:
        return _digits(buf, tab, j, end, 1, digit_limit)
    if c == 32 and j < end:
        c2, w2 = _cp_at(buf, j)
        if not (tab[c2] & _LNS):
            return _run_newlines(buf, _run_not(buf, tab, j + w2, end, _LNS), end, True)
    if not (k & _LNS):
        return _run_newlines(buf, _run_not(buf, tab, j, end, _LNS), end, True)
    p, last_nl, prev = _space_run(buf, tab, i, end)
    if last_nl >= 0:
        return last_nl
    if p == end or prev == i:
        return p
    return prev


@njit(**_JIT)
def _next_piece(buf, tab, i, end, pattern):
    if pattern == 2:
        return _next_cl100k(buf, tab, i, end)
    if pattern == 3:
        return _next_o200k(buf, tab, i, end, True, 3)
    if pattern == 5:
        return _next_o200k(buf, tab, i, end, False, 1)
    if pattern == 1:
        return _next_gpt2(buf, tab, i, end)
    if pattern == 4:
        c, w = _cp_at(buf, i)
        if tab[c] & SPACE:
            return _run(buf, tab, i + w, end, SPACE)
        return _run_not(buf, tab, i + w, end, SPACE)
    return end


@njit(**_JIT)
def _chunk_end(buf, tab, i, end, split_digits):
    """With split_digits, runs of at most that many digits are chunks of their own."""
    if split_digits <= 0:
        return end
    c, w = _cp_at(buf, i)
    if tab[c] & NUMBER:
        return _digits(buf, tab, i + w, end, 1, split_digits)
    return _run_not(buf, tab, i + w, end, NUMBER)


@njit(**_KERNEL)
def _split_kernel(buf, tab, pattern, split_digits, ends):
    """Byte offsets where pieces end; returns how many."""
    n = 0
    i = 0
    end = buf.shape[0]
    while i < end:
        ce = _chunk_end(buf, tab, i, end, split_digits)
        while i < ce:
            i = _next_piece(buf, tab, i, ce, pattern)
            ends[n] = i
            n += 1
    return n


# ---------------------------------------------------------------- hashing and tables
# Tables are (capacity, 2) uint64 arrays, key and value side by side (one cache line per probe),
# linear probing, _EMPTY keys free. A value packs (rank << 32) | id; _NO_RANK marks tokens no
# merge makes. Tokens of <= 7 bytes are keyed by their packed bytes (exact, no verification);
# longer ones by a 64-bit hash verified against the token bytes.
_NO_RANK = 0x7FFFFFFF
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(**_JIT)
def _hash_bytes(buf, s, e):
    h = np.uint64(0xCBF29CE484222325)
    for t in range(s, e):
        h = (h ^ np.uint64(buf[t])) * np.uint64(0x100000001B3)
    return h ^ (h >> np.uint64(31))


@njit(**_JIT)
def _short_key(buf, s, e):
    k = np.uint64(e - s) << np.uint64(56)
    for t in range(e - s):
        k |= np.uint64(buf[s + t]) << np.uint64(8 * t)
    return k


@njit(**_JIT)
def _slot(key, table):
    # multiplicative (Fibonacci) hashing; bits 32.. of the product
    return np.int64((key * _GOLDEN) >> np.uint64(32)) & (table.shape[0] - 1)


@njit(**_JIT)
def _table_put(table, key, value):
    mask = table.shape[0] - 1
    slot = _slot(key, table)
    while table[slot, 0] != _EMPTY and table[slot, 0] != key:
        slot = (slot + 1) & mask
    table[slot, 0] = key
    table[slot, 1] = value


@njit(**_JIT)
def _table_get(table, key):
    mask = table.shape[0] - 1
    slot = _slot(key, table)
    while True:
        k = table[slot, 0]
        if k == key:
            return table[slot, 1]
        if k == _EMPTY:
            return _EMPTY
        slot = (slot + 1) & mask


@njit(**_JIT)
def _build_vocab_tables(tok_off, tok_bytes, ids, ranks, short, long_):
    for t in range(ids.shape[0]):
        i = ids[t]
        a = tok_off[i]
        e = tok_off[i + 1]
        value = (np.uint64(ranks[t]) << np.uint64(32)) | np.uint64(i)
        if e - a <= 7:
            _table_put(short, _short_key(tok_bytes, a, e), value)
        else:
            # distinct tokens with equal hashes get separate slots (the lookup verifies bytes)
            h = _hash_bytes(tok_bytes, a, e)
            mask = long_.shape[0] - 1
            slot = _slot(h, long_)
            while long_[slot, 0] != _EMPTY:
                slot = (slot + 1) & mask
            long_[slot, 0] = h
            long_[slot, 1] = value


@njit(**_JIT)
def _build_pair_table(lefts, rights, ranks, news, table):
    for t in range(lefts.shape[0]):
        key = (np.uint64(lefts[t]) << np.uint64(32)) | np.uint64(rights[t])
        _table_put(table, key, (np.uint64(ranks[t]) << np.uint64(32)) | np.uint64(news[t]))


@njit(**_JIT)
def _vocab_value(buf, s, e, vt):
    """(rank << 32) | id of the token spelled buf[s:e], or _EMPTY."""
    short, long_, tok_off, tok_bytes = vt
    n = e - s
    if n <= 7:
        return _table_get(short, _short_key(buf, s, e))
    h = _hash_bytes(buf, s, e)
    mask = long_.shape[0] - 1
    slot = _slot(h, long_)
    while True:
        k = long_[slot, 0]
        if k == _EMPTY:
            return _EMPTY
        if k == h:
            v = long_[slot, 1]
            i = np.int64(v & np.uint64(0xFFFFFFFF))
            a = tok_off[i]
            if tok_off[i + 1] - a == n:
                same = True
                for t in range(n):
                    if tok_bytes[a + t] != buf[s + t]:
                        same = False
                        break
                if same:
                    return v
        slot = (slot + 1) & mask


@njit(**_JIT)
def _merge_value(buf, a, b, c, left, right, any_split, vt, pairs):
    """(rank << 32) | merged id for joining the parts buf[a:b] (id left) and buf[b:c] (id right);
    rank _NO_RANK when they do not merge."""
    if any_split:
        v = _vocab_value(buf, a, c, vt)
    else:
        v = _table_get(pairs, (np.uint64(left) << np.uint64(32)) | np.uint64(right))
    if v == _EMPTY:
        return np.int64(_NO_RANK) << 32
    return np.int64(v)


# ---------------------------------------------------------------- BPE merge
@njit(**_JIT)
def _bpe_small(buf, s, e, byte_ids, any_split, vt, pairs, pos, sym, val, out, o):
    """Lowest rank first, leftmost on ties; in place over scratch arrays.
    Part t is buf[s+pos[t] : s+pos[t+1]] with id sym[t]; val[t] describes merging t and t+1."""
    m = e - s
    for t in range(m):
        sym[t] = byte_ids[buf[s + t]]
        pos[t] = s + t
    pos[m] = e
    for t in range(m - 1):
        val[t] = _merge_value(buf, pos[t], pos[t + 1], pos[t + 2], sym[t], sym[t + 1], any_split, vt, pairs)
    none = np.int64(_NO_RANK) << 32
    while m > 1:
        best = none
        bi = -1
        for t in range(m - 1):
            v = val[t]
            if v < best:  # rank is in the high bits, so the lowest value is the lowest rank
                best = v
                bi = t
        if bi < 0:
            break
        sym[bi] = best & 0xFFFFFFFF
        for t in range(bi + 1, m - 1):
            sym[t] = sym[t + 1]
        for t in range(bi + 1, m):
            pos[t] = pos[t + 1]
        for t in range(bi + 1, m - 2):
            val[t] = val[t + 1]
        m -= 1
        if bi > 0:
            val[bi - 1] = _merge_value(buf, pos[bi - 1], pos[bi], pos[bi + 1], sym[bi - 1], sym[bi], any_split,
                                       vt, pairs)
        if bi < m - 1:
            val[bi] = _merge_value(buf, pos[bi], pos[bi + 1], pos[bi + 2], sym[bi], sym[bi + 1], any_split,
                                   vt, pairs)
    for t in range(m):
        out[o + t] = sym[t]
    return o + m


@njit(**_JIT)
def _heap_push(heap, hn, key):
    i = hn
    heap[i] = key
    while i > 0:
        p = (i - 1) >> 1
        if heap[p] <= heap[i]:
            break
        heap[p], heap[i] = heap[i], heap[p]
        i = p
    return hn + 1


@njit(**_JIT)
def _heap_pop(heap, hn):
    top = heap[0]
    hn -= 1
    heap[0] = heap[hn]
    i = 0
    while True:
        a = 2 * i + 1
        if a >= hn:
            break
        b = a + 1
        c = b if b < hn and heap[b] < heap[a] else a
        if heap[i] <= heap[c]:
            break
        heap[i], heap[c] = heap[c], heap[i]
        i = c
    return top, hn


@njit(**_KERNEL)
def _bpe_long(buf, s, e, byte_ids, any_split, vt, pairs, out, o):
    """Same merges as _bpe_small in O(n log n): a (rank, position) heap over a linked list of
    parts (part i spans byte i to nxt[i]). A popped entry is used only if the pair now at that
    position still has that rank; a stale entry with an equal key stands for a live one."""
    n = e - s
    sym = np.empty(n, np.int64)
    nxt = np.empty(n + 1, np.int64)
    prv = np.empty(n, np.int64)
    for t in range(n):
        sym[t] = byte_ids[buf[s + t]]
        nxt[t] = t + 1
        prv[t] = t - 1
    nxt[n] = n
    heap = np.empty(3 * n + 1, np.int64)
    hn = 0
    for t in range(n - 1):
        v = _merge_value(buf, s + t, s + t + 1, s + t + 2, sym[t], sym[t + 1], any_split, vt, pairs)
        r = v >> 32
        if r != _NO_RANK:
            hn = _heap_push(heap, hn, (r << 32) | t)
    while hn > 0:
        key, hn = _heap_pop(heap, hn)
        r = key >> 32
        i = key & 0xFFFFFFFF
        if sym[i] < 0:
            continue
        j = nxt[i]
        if j >= n:
            continue
        v = _merge_value(buf, s + i, s + j, s + nxt[j], sym[i], sym[j], any_split, vt, pairs)
        if (v >> 32) != r:
            continue
        sym[i] = v & 0xFFFFFFFF
        sym[j] = -1
        k = nxt[j]
        nxt[i] = k
        if k < n:
            prv[k] = i
            v2 = _merge_value(buf, s + i, s + k, s + nxt[k], sym[i], sym[k], any_split, vt, pairs)
            if (v2 >> 32) != _NO_RANK:
                hn = _heap_push(heap, hn, ((v2 >> 32) << 32) | i)
        p = prv[i]
        if p >= 0:
            v2 = _merge_value(buf, s + p, s + i, s + k, sym[p], sym[i], any_split, vt, pairs)
            if (v2 >> 32) != _NO_RANK:
                hn = _heap_push(heap, hn, ((v2 >> 32) << 32) | p)
    i = 0
    while i < n:
        out[o] = sym[i]
        o += 1
        i = nxt[i]
    return o


@njit(**_JIT)
def _encode_miss(buf, s, e, byte_ids, any_split, vt, pairs, cache, scratch, out, o):
    """A piece (<= _SMALL bytes) that is not a whole token: the per-thread cache, else BPE."""
    n = e - s
    c_hash, c_klen, c_key, c_n, c_ids = cache
    slot = -1
    h = np.uint64(0)
    if n <= _CACHE_KEY:
        h = _hash_bytes(buf, s, e)
        slot = np.int64(h & np.uint64(c_hash.shape[0] - 1))
        if c_hash[slot] == h and c_klen[slot] == n:
            base = slot * _CACHE_KEY
            same = True
            for t in range(n):
                if c_key[base + t] != buf[s + t]:
                    same = False
                    break
            if same:
                m = c_n[slot]
                ib = slot * _CACHE_IDS
                for t in range(m):
                    out[o + t] = c_ids[ib + t]
                return o + m
    pos, sym, val = scratch
    o2 = _bpe_small(buf, s, e, byte_ids, any_split, vt, pairs, pos, sym, val, out, o)
    if slot >= 0 and o2 - o <= _CACHE_IDS:
        c_hash[slot] = h
        c_klen[slot] = n
        base = slot * _CACHE_KEY
        for t in range(n):
            c_key[base + t] = buf[s + t]
        c_n[slot] = o2 - o
        ib = slot * _CACHE_IDS
        for t in range(o2 - o):
            c_ids[ib + t] = out[o + t]
    return o2


@njit(**_JIT)
def _encode_piece(buf, s, e, byte_ids, ignore_merges, any_split, vt, pairs, cache, scratch, out, o):
    n = e - s
    if n == 1:
        out[o] = byte_ids[buf[s]]
        return o + 1
    if ignore_merges and n <= 7:  # the common case stays inline: one probe of the packed-key table
        v = _table_get(vt[0], _short_key(buf, s, e))
        if v != _EMPTY:
            out[o] = v & np.uint64(0xFFFFFFFF)
            return o + 1
    elif ignore_merges:
        v = _vocab_value(buf, s, e, vt)
        if v != _EMPTY:
            out[o] = v & np.uint64(0xFFFFFFFF)
            return o + 1
    return _encode_miss(buf, s, e, byte_ids, any_split, vt, pairs, cache, scratch, out, o)


@njit(**_KERNEL)
def _encode_kernel(buf, doc_off, d0, d1, pattern, split_digits, tab, byte_ids, ignore_merges, any_split,
                   vt, pairs, cache, out, counts):
    """Encode docs d0..d1-1; doc d's ids go to out[doc_off[d]:] (ids never outnumber bytes)."""
    scratch = (np.empty(_SMALL + 1, np.int64), np.empty(_SMALL, np.int64), np.empty(_SMALL, np.int64))
    for d in range(d0, d1):
        i = doc_off[d]
        end = doc_off[d + 1]
        o = i
        while i < end:
            ce = _chunk_end(buf, tab, i, end, split_digits)
            while i < ce:
                j = _next_piece(buf, tab, i, ce, pattern)
                if j - i <= _SMALL:
                    o = _encode_piece(buf, i, j, byte_ids, ignore_merges, any_split, vt, pairs, cache, scratch,
                                      out, o)
                else:  # long pieces allocate, which the reference-count-free helpers may not
                    v = _vocab_value(buf, i, j, vt) if ignore_merges else _EMPTY
                    if v != _EMPTY:
                        out[o] = v & np.uint64(0xFFFFFFFF)
                        o += 1
                    else:
                        o = _bpe_long(buf, i, j, byte_ids, any_split, vt, pairs, out, o)
                i = j
        counts[d] = o - doc_off[d]


@njit(**_KERNEL)
def _decode_kernel(ids, tok_off, tok_bytes, tok_ok):
    """Concatenated token bytes, or (empty, index of the first bad id)."""
    n_tok = tok_off.shape[0] - 1
    total = 0
    for t in range(ids.shape[0]):
        i = ids[t]
        if i < 0 or i >= n_tok or not tok_ok[i]:
            return np.empty(0, np.uint8), t
        total += tok_off[i + 1] - tok_off[i]
    out = np.empty(total, np.uint8)
    p = 0
    for t in range(ids.shape[0]):
        i = ids[t]
        for q in range(tok_off[i], tok_off[i + 1]):
            out[p] = tok_bytes[q]
            p += 1
    return out, -1


# ---------------------------------------------------------------- Python side
def _pow2_at_least(n: int) -> int:
    return 1 << max(4, (max(n, 1) - 1).bit_length())


def _new_table(n_keys: int) -> np.ndarray:
    """Empty (capacity, 2) table for n_keys keys at load factor <= 1/2."""
    return np.full((_pow2_at_least(2 * n_keys), 2), _EMPTY, dtype=np.uint64)


def _new_cache():
    """(piece cache arrays for the kernel, reusable out / counts / offsets buffers for short texts)."""
    pieces = (np.full(_CACHE_SLOTS, _EMPTY, dtype=np.uint64), np.zeros(_CACHE_SLOTS, np.int64),
              np.zeros(_CACHE_SLOTS * _CACHE_KEY, np.uint8), np.zeros(_CACHE_SLOTS, np.int64),
              np.zeros(_CACHE_SLOTS * _CACHE_IDS, np.uint32))
    return pieces, np.empty(_SMALL_TEXT, np.uint32), np.zeros(1, np.int64), np.zeros(2, np.int64)


class FastBPE:
    """Array tables + compiled kernels for one Tokenizer; build with :func:`fast_encoder_for`."""

    takes_str = False  # encode_bytes wants UTF-8 bytes

    def __init__(self, tok, pattern: int):
        self.pattern = pattern
        self.split_digits = int(tok.pretokenizer.split_digits or 0)
        self.ignore_merges = bool(tok.ignore_merges)
        self.table = class_table()
        n_vocab = tok.n_vocab
        table = tok.id_to_bytes
        lens = np.fromiter((len(b) if b is not None else 0 for b in table), dtype=np.int64, count=n_vocab)
        self.tok_ok = np.fromiter((b is not None for b in table), dtype=np.bool_, count=n_vocab)
        self.tok_off = np.zeros(n_vocab + 1, dtype=np.int64)
        np.cumsum(lens, out=self.tok_off[1:])
        self.tok_bytes = np.frombuffer(b"".join(b for b in table if b is not None), dtype=np.uint8)
        self.byte_ids = np.asarray(tok.byte_ids, dtype=np.int64)
        self.any_split = bool(tok.any_split)

        ids = np.fromiter(tok.vocab.values(), dtype=np.int64, count=len(tok.vocab))
        ranks = np.full(len(ids), _NO_RANK, dtype=np.int64)
        if self.any_split:  # a pair's rank is that of the token it spells (see Tokenizer.pair_table)
            merge_ranks = tok.merge_ranks
            ranks = np.fromiter((merge_ranks.get(t, _NO_RANK) for t in tok.vocab), dtype=np.int64,
                                count=len(ids))
        short = lens[ids] <= 7
        self.short = _new_table(int(short.sum()))
        self.long = _new_table(int((~short).sum()))
        _build_vocab_tables(self.tok_off, self.tok_bytes, ids, ranks, self.short, self.long)
        self.vt = (self.short, self.long, self.tok_off, self.tok_bytes)

        if self.any_split:
            self.pairs = _new_table(0)
        else:
            pairs = tok.pair_table
            n = len(pairs)
            keys = np.fromiter((x for k in pairs for x in k), dtype=np.int64, count=2 * n).reshape(n, 2)
            vals = np.fromiter((x for v in pairs.values() for x in v), dtype=np.int64, count=2 * n).reshape(n, 2)
            self.pairs = _new_table(n)
            _build_pair_table(keys[:, 0].copy(), keys[:, 1].copy(), vals[:, 0].copy(), vals[:, 1].copy(),
                              self.pairs)
        self._local = threading.local()

    # one cache per thread: kernels run without the GIL, so two threads must never share one
    def _take_cache(self):
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = _new_cache()
        return cache

    def _run(self, buf, doc_off, d0, d1, out, counts) -> None:
        _encode_kernel(buf, doc_off, d0, d1, self.pattern, self.split_digits, self.table, self.byte_ids,
                       self.ignore_merges, self.any_split, self.vt, self.pairs, self._take_cache()[0], out, counts)

    def encode_bytes(self, data: bytes, as_list: bool = False):
        """Ids of one UTF-8 text (no special-token handling): a uint32 array, or a list."""
        n = len(data)
        buf = np.frombuffer(data, dtype=np.uint8)
        pieces, out, counts, doc_off = self._take_cache()
        if n > _SMALL_TEXT:  # short texts reuse the thread's buffers: they are dominated by call overhead
            out, counts, doc_off = np.empty(n, dtype=np.uint32), np.zeros(1, dtype=np.int64), np.zeros(2, np.int64)
        doc_off[1] = n
        _encode_kernel(buf, doc_off, 0, 1, self.pattern, self.split_digits, self.table, self.byte_ids,
                       self.ignore_merges, self.any_split, self.vt, self.pairs, pieces, out, counts)
        ids = out[: counts[0]]
        return ids.tolist() if as_list else ids.copy()

    def encode_many(self, datas: list[bytes], num_threads: int = 1):
        """Encode many UTF-8 texts; returns (flat ids, start offsets, counts)."""
        lens = np.fromiter((len(d) for d in datas), dtype=np.int64, count=len(datas))
        doc_off = np.zeros(len(datas) + 1, dtype=np.int64)
        np.cumsum(lens, out=doc_off[1:])
        buf = np.frombuffer(b"".join(datas), dtype=np.uint8)
        out = np.empty(max(int(doc_off[-1]), 1), dtype=np.uint32)
        counts = np.zeros(len(datas), dtype=np.int64)
        groups = _groups(doc_off, num_threads)
        if len(groups) <= 1:
            for d0, d1 in groups:
                self._run(buf, doc_off, d0, d1, out, counts)
        else:
            with ThreadPoolExecutor(max_workers=num_threads) as ex:
                for f in [ex.submit(self._run, buf, doc_off, d0, d1, out, counts) for d0, d1 in groups]:
                    f.result()
        return out, doc_off[:-1], counts

    def encode_texts(self, texts: list[str], to_bytes, num_threads: int = 1, as_list: bool = True) -> list:
        """Ids per text. Each thread takes contiguous groups and does all of a group's work, so its
        GIL-bound parts (UTF-8 encoding, building Python lists) overlap other threads' kernels."""
        def work(group):
            d0, d1 = group
            datas = [to_bytes(t) for t in texts[d0:d1]]
            out, starts, counts = self.encode_many(datas, 1)
            if as_list:
                return [out[a : a + n].tolist() for a, n in zip(starts.tolist(), counts.tolist())]
            return [out[a : a + n].copy() for a, n in zip(starts.tolist(), counts.tolist())]

        if len(texts) < 2:
            return work((0, len(texts)))
        lens = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        doc_off = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lens, out=doc_off[1:])
        if doc_off[-1] < _THREADED_CHARS:  # starting threads costs more than a small batch takes
            num_threads = 1
        groups = _groups(doc_off, max(num_threads, 1), max_chars=_GROUP_CHARS)
        if num_threads <= 1:
            parts = [work(g) for g in groups]
        else:
            with ThreadPoolExecutor(max_workers=num_threads) as ex:
                parts = list(ex.map(work, groups))
        return [ids for part in parts for ids in part]

    def split_ends(self, data: bytes) -> np.ndarray:
        """Byte offsets where pre-tokenizer pieces end."""
        buf = np.frombuffer(data, dtype=np.uint8)
        ends = np.empty(len(data), dtype=np.int64)
        n = _split_kernel(buf, self.table, self.pattern, self.split_digits, ends)
        return ends[:n]

    def decode_array(self, ids: np.ndarray) -> tuple[np.ndarray | None, int]:
        """(uint8 array of the token bytes, -1) or (None, index of the first unknown id)."""
        data, bad = _decode_kernel(ids, self.tok_off, self.tok_bytes, self.tok_ok)
        if bad >= 0:
            return None, int(bad)
        return data, -1


def _groups(doc_off: np.ndarray, num_threads: int, max_chars: int | None = None) -> list[tuple[int, int]]:
    """Contiguous doc ranges of similar size, a few per thread for balance, and (with max_chars)
    small enough that the per-group buffers stay bounded."""
    n_docs = len(doc_off) - 1
    if n_docs == 0:
        return []
    total = int(doc_off[-1])
    n_groups = 1 if num_threads <= 1 else num_threads * 4
    if max_chars:
        n_groups = max(n_groups, -(-total // max_chars))
    n_groups = min(n_docs, n_groups)
    if n_groups <= 1:
        return [(0, n_docs)]
    cuts = np.searchsorted(doc_off, np.linspace(0, total, n_groups + 1)[1:-1], side="left")
    bounds = sorted(set([0, *cuts.tolist(), n_docs]))
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def split_pieces(text: str, pattern: str | None, split_digits: int | None = None) -> list[str]:
    """Pre-tokenize with the state machine of a named pattern (what the encoder uses)."""
    pid = PATTERN_IDS[pattern]
    data = text.encode("utf-8")
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.empty(len(data), dtype=np.int64)
    n = _split_kernel(buf, class_table(), pid, int(split_digits or 0), ends)
    out, last = [], 0
    for e in ends[:n].tolist():
        out.append(data[last:e].decode("utf-8"))
        last = e
    return out


def fast_encoder_for(tok) -> FastBPE | None:
    """A FastBPE for ``tok`` or None when numba is unavailable or the pattern is custom."""
    if not HAVE_NUMBA:
        return None
    pid = pattern_id(tok.pretokenizer)
    if pid is None or tok.n_vocab > 4 * (len(tok.vocab) + len(tok.special_tokens)) + (1 << 20):
        return None
    return FastBPE(tok, pid)
