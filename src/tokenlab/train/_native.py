"""The BPE merge loop over flat arrays, compiled with numba when it is installed.

The same functions run as plain Python (slowly) when numba is missing, so results never depend
on whether numba is there. The loop reproduces HF ``tokenizers``' BpeTrainer step by step:

* a heap of entries ``(count, pair, words)``; the best entry has the highest count, ties go to
  the smallest ``(key(left), key(right))`` where keys follow HF's id order;
* a popped entry merges the pair only in *its own* words (HF keeps one word set per entry);
* a stale entry (its count differs from the live count) is refreshed and goes back in the heap;
* merging a pair never decrements that pair's own count (HF's ``Word::merge`` doesn't either);
* a merge whose result already is a token reuses that token's id and does not grow the vocab.

Words are singly linked lists inside one flat symbol array: ``sym[i]`` is the symbol at node
``i`` and ``nxt[i]`` the next node of the same word (-1 at the end). Merging keeps the left node.
"""

from __future__ import annotations

import numpy as np

from .._jit import HAVE_NUMBA  # numba is optional (the "fast" extra)
from .._jit import njit as _njit


def _jit(fn):
    """Compile with numba (cached on disk, GIL released) or leave as plain Python."""
    if HAVE_NUMBA:
        return _njit(cache=True, nogil=True)(fn)
    return fn


_MOD1 = 2147483647  # 2**31 - 1
_MOD2 = 2147483629  # a prime below 2**31
_BASE1 = 257
_BASE2 = 263


@_jit
def _grow(arr, need):
    """``arr`` if it holds ``need`` items, else a zero-padded copy at least twice as long."""
    if need <= arr.shape[0]:
        return arr
    size = arr.shape[0] * 2 + 1024
    while size < need:
        size *= 2
    out = np.zeros(size, dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


@_jit
def _better(rec_count, rec_tie, x, y):
    """Entry x comes out of the heap before entry y."""
    if rec_count[x] != rec_count[y]:
        return rec_count[x] > rec_count[y]
    return rec_tie[x] < rec_tie[y]


@_jit
def _sift_up(heap, pos, rec_count, rec_tie):
    item = heap[pos]
    while pos > 0:
        parent = (pos - 1) >> 1
        if _better(rec_count, rec_tie, item, heap[parent]):
            heap[pos] = heap[parent]
            pos = parent
        else:
            break
    heap[pos] = item


@_jit
def _sift_down(heap, size, pos, rec_count, rec_tie):
    item = heap[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _better(rec_count, rec_tie, heap[child + 1], heap[child]):
            child += 1
        if _better(rec_count, rec_tie, heap[child], item):
            heap[pos] = heap[child]
            pos = child
        else:
            break
    heap[pos] = item


@_jit
def _slot(table_keys, x, y):
    """Slot of pair (x, y) in an open-addressing table: where its key is, or the empty slot for it."""
    mask = table_keys.shape[0] - 1
    key = np.int64(x) * 4294967296 + y
    h = np.int64(x) * 2654435761 + np.int64(y) * 40503
    h = (h ^ (h >> 15)) & mask
    while True:
        k = table_keys[h]
        if k == key or k == -1:
            return h
        h = (h + 1) & mask


@_jit
def _rehash(table_keys, table_vals, size):
    new_keys = np.full(size, -1, dtype=np.int64)
    new_vals = np.zeros(size, dtype=np.int64)
    for h in range(table_keys.shape[0]):
        key = table_keys[h]
        if key != -1:
            x = key >> 32
            y = key & 4294967295
            slot = _slot(new_keys, x, y)
            new_keys[slot] = key
            new_vals[slot] = table_vals[h]
    return new_keys, new_vals


@_jit
def train_merges(sym, nxt, word_start, word_count, byte_key, n_new_tokens, min_frequency, progress):
    """Run BPE merges until ``n_new_tokens`` distinct tokens were added (or no pair is left).

    ``sym``/``nxt``: int32 node arrays (modified in place); ``word_start``: int64 first node of
    each word; ``word_count``: int64 frequency of each word; ``byte_key``: int64[256] HF order of
    the bytes. ``progress[0]`` is set to the number of new tokens as the loop goes.
    Returns int32 arrays ``(left, right, result)`` of the merges in order.
    """
    n_words = word_start.shape[0]
    max_tokens = 256 + n_new_tokens

    # --- tokens: tie key, hashes of their bytes (to find duplicates) and the bytes themselves
    tok_key = np.zeros(max_tokens, dtype=np.int64)
    tok_h1 = np.zeros(max_tokens, dtype=np.int64)
    tok_h2 = np.zeros(max_tokens, dtype=np.int64)
    tok_p1 = np.zeros(max_tokens, dtype=np.int64)
    tok_p2 = np.zeros(max_tokens, dtype=np.int64)
    tok_off = np.zeros(max_tokens + 1, dtype=np.int64)
    tok_buf = np.zeros(4096, dtype=np.uint8)
    by_hash = dict()
    for t in range(256):
        tok_key[t] = byte_key[t]
        tok_h1[t] = t + 1
        tok_h2[t] = t + 1
        tok_p1[t] = _BASE1
        tok_p2[t] = _BASE2
        tok_buf[t] = t
        tok_off[t + 1] = t + 1
        by_hash[(t + 1) * 2147483648 + (t + 1)] = t
    n_tokens = 256

    # --- pairs: byte pairs are a*256+b; pairs with a merged token get ids from a dict
    pair_left = np.zeros(65536 + 1024, dtype=np.int32)
    pair_right = np.zeros(65536 + 1024, dtype=np.int32)
    pair_count = np.zeros(65536 + 1024, dtype=np.int64)
    for p in range(65536):
        pair_left[p] = p >> 8
        pair_right[p] = p & 255
    # pairs with a merged token: open-addressing table (pair key -> pair id), kept under half full
    table_keys = np.full(1 << 16, -1, dtype=np.int64)
    table_vals = np.zeros(1 << 16, dtype=np.int64)
    n_pairs = 65536
    max_len = 0
    for w in range(n_words):
        n = 0
        i = word_start[w]
        while i != -1:
            n += 1
            i = nxt[i]
        max_len = max(max_len, n)

    # --- heap entries ("records"): count, tie key, pair, and a slice of entry_words
    rec_count = np.zeros(65536, dtype=np.int64)
    rec_tie = np.zeros(65536, dtype=np.int64)
    rec_pair = np.zeros(65536, dtype=np.int64)
    rec_off = np.zeros(65536, dtype=np.int64)
    rec_len = np.zeros(65536, dtype=np.int64)
    heap = np.zeros(65536, dtype=np.int64)
    n_rec = 0
    heap_size = 0
    entry_words = np.zeros(1024, dtype=np.int32)
    n_entry_words = 0

    # --- initial pair counts; each byte pair's entry holds every word that contains it
    words_per_pair = np.zeros(65536 + 1, dtype=np.int64)
    last_word = np.full(65536, -1, dtype=np.int64)
    for w in range(n_words):
        c = word_count[w]
        i = word_start[w]
        j = nxt[i]
        while j != -1:
            p = sym[i] * 256 + sym[j]
            pair_count[p] += c
            if last_word[p] != w:
                last_word[p] = w
                words_per_pair[p + 1] += 1
            i = j
            j = nxt[i]
    for p in range(65536):
        words_per_pair[p + 1] += words_per_pair[p]
    n_entry_words = words_per_pair[65536]
    entry_words = _grow(entry_words, n_entry_words)
    fill = words_per_pair[:65536].copy()
    last_word[:] = -1
    for w in range(n_words):
        i = word_start[w]
        j = nxt[i]
        while j != -1:
            p = sym[i] * 256 + sym[j]
            if last_word[p] != w:
                last_word[p] = w
                entry_words[fill[p]] = w
                fill[p] += 1
            i = j
            j = nxt[i]
    for p in range(65536):
        if pair_count[p] > 0:
            rec_count[n_rec] = pair_count[p]
            rec_tie[n_rec] = tok_key[p >> 8] * 4294967296 + tok_key[p & 255]
            rec_pair[n_rec] = p
            rec_off[n_rec] = words_per_pair[p]
            rec_len[n_rec] = words_per_pair[p + 1] - words_per_pair[p]
            heap[heap_size] = n_rec
            n_rec += 1
            heap_size += 1
    for pos in range(heap_size // 2 - 1, -1, -1):
        _sift_down(heap, heap_size, pos, rec_count, rec_tie)

    merge_left = np.zeros(max(n_new_tokens, 16), dtype=np.int32)
    merge_right = np.zeros(max(n_new_tokens, 16), dtype=np.int32)
    merge_result = np.zeros(max(n_new_tokens, 16), dtype=np.int32)
    n_merges = 0

    # pairs that gained occurrences in this step, with the word they gained them in
    # (grouped per pair through linked lists: pair_head[q] -> last record, new_link -> the one before)
    new_pair = np.zeros(1024, dtype=np.int64)
    new_word = np.zeros(1024, dtype=np.int32)
    new_link = np.zeros(1024, dtype=np.int64)
    pair_head = np.full(pair_left.shape[0], -1, dtype=np.int64)
    touched = np.zeros(1024, dtype=np.int64)

    while n_tokens < max_tokens and heap_size > 0:
        top = heap[0]
        p = rec_pair[top]
        live = pair_count[p]
        if rec_count[top] != live:
            rec_count[top] = live
            _sift_down(heap, heap_size, 0, rec_count, rec_tie)
            continue
        if live < 1 or live < min_frequency:
            break
        heap_size -= 1
        if heap_size > 0:
            heap[0] = heap[heap_size]
            _sift_down(heap, heap_size, 0, rec_count, rec_tie)

        a = pair_left[p]
        b = pair_right[p]
        # the merged token: an existing one if its bytes are already a token
        h1 = (tok_h1[a] * tok_p1[b] + tok_h1[b]) % _MOD1
        h2 = (tok_h2[a] * tok_p2[b] + tok_h2[b]) % _MOD2
        hkey = h1 * 2147483648 + h2
        la = tok_off[a + 1] - tok_off[a]
        lb = tok_off[b + 1] - tok_off[b]
        new = -1
        if hkey in by_hash:
            cand = by_hash[hkey]
            if tok_off[cand + 1] - tok_off[cand] == la + lb:
                same = True
                base = tok_off[cand]
                for k in range(la):
                    if tok_buf[base + k] != tok_buf[tok_off[a] + k]:
                        same = False
                        break
                if same:
                    for k in range(lb):
                        if tok_buf[base + la + k] != tok_buf[tok_off[b] + k]:
                            same = False
                            break
                if same:
                    new = cand
        if new == -1:
            new = n_tokens
            n_tokens += 1
            tok_key[new] = new
            tok_h1[new] = h1
            tok_h2[new] = h2
            tok_p1[new] = (tok_p1[a] * tok_p1[b]) % _MOD1
            tok_p2[new] = (tok_p2[a] * tok_p2[b]) % _MOD2
            start = tok_off[new]
            tok_buf = _grow(tok_buf, start + la + lb)
            tok_buf[start: start + la] = tok_buf[tok_off[a]: tok_off[a] + la]
            tok_buf[start + la: start + la + lb] = tok_buf[tok_off[b]: tok_off[b] + lb]
            tok_off[new + 1] = start + la + lb
            if hkey not in by_hash:
                by_hash[hkey] = new
        if n_merges >= merge_left.shape[0]:
            merge_left = _grow(merge_left, n_merges + 1)
            merge_right = _grow(merge_right, n_merges + 1)
            merge_result = _grow(merge_result, n_merges + 1)
        merge_left[n_merges] = a
        merge_right[n_merges] = b
        merge_result[n_merges] = new
        n_merges += 1

        # apply the merge in the entry's words, left to right, like HF's Word::merge
        n_new = 0
        n_touched = 0
        for k in range(rec_off[top], rec_off[top] + rec_len[top]):
            w = entry_words[k]
            c = word_count[w]
            room = n_pairs + 2 * max_len + 2
            if room > pair_left.shape[0]:
                pair_left = _grow(pair_left, room)
                pair_right = _grow(pair_right, room)
                pair_count = _grow(pair_count, room)
                old_size = pair_head.shape[0]
                pair_head = _grow(pair_head, pair_left.shape[0])
                pair_head[old_size:] = -1
            if 2 * (room - 65536) > table_keys.shape[0]:
                size = table_keys.shape[0]
                while 2 * (room - 65536) > size:
                    size *= 2
                table_keys, table_vals = _rehash(table_keys, table_vals, size)
            word_first_new = n_new
            prev = -1
            i = word_start[w]
            while i != -1:
                j = nxt[i]
                if j == -1:
                    break
                if sym[i] == a and sym[j] == b:
                    after = nxt[j]
                    sym[i] = new
                    nxt[i] = after
                    sym[j] = -1
                    for nb in range(2):  # the pairs with the left neighbour, then the right one
                        if (prev if nb == 0 else after) == -1:
                            continue
                        for side in range(2):  # side 0: the pair that disappears; 1: the one formed
                            if nb == 0:
                                x = sym[prev]
                                y = a if side == 0 else new
                            else:
                                x = b if side == 0 else new
                                y = sym[after]
                            if x < 256 and y < 256:
                                q = x * 256 + y
                            else:
                                slot = _slot(table_keys, x, y)
                                if table_keys[slot] != -1:
                                    q = table_vals[slot]
                                else:
                                    q = n_pairs
                                    table_keys[slot] = np.int64(x) * 4294967296 + y
                                    table_vals[slot] = q
                                    pair_left[q] = x
                                    pair_right[q] = y
                                    pair_count[q] = 0
                                    n_pairs += 1
                            if side == 0:
                                pair_count[q] -= c
                            else:
                                pair_count[q] += c
                                seen = False
                                for r in range(word_first_new, n_new):
                                    if new_pair[r] == q:
                                        seen = True
                                        break
                                if not seen:
                                    new_pair = _grow(new_pair, n_new + 1)
                                    new_word = _grow(new_word, n_new + 1)
                                    new_link = _grow(new_link, n_new + 1)
                                    new_pair[n_new] = q
                                    new_word[n_new] = w
                                    if pair_head[q] == -1:
                                        touched = _grow(touched, n_touched + 1)
                                        touched[n_touched] = q
                                        n_touched += 1
                                    new_link[n_new] = pair_head[q]
                                    pair_head[q] = n_new
                                    n_new += 1
                    prev = i
                    i = after
                else:
                    prev = i
                    i = j

        # one new heap entry per pair that gained occurrences, holding the words it gained them in
        for t in range(n_touched):
            q = touched[t]
            r = pair_head[q]
            pair_head[q] = -1
            if pair_count[q] <= 0:
                continue
            n_words_q = 0
            r2 = r
            while r2 != -1:
                n_words_q += 1
                r2 = new_link[r2]
            start_words = n_entry_words
            n_entry_words += n_words_q
            entry_words = _grow(entry_words, n_entry_words)
            pos = n_entry_words
            while r != -1:  # the list runs newest first: fill backwards to keep word order
                pos -= 1
                entry_words[pos] = new_word[r]
                r = new_link[r]
            if n_rec >= rec_count.shape[0]:
                rec_count = _grow(rec_count, n_rec + 1)
                rec_tie = _grow(rec_tie, n_rec + 1)
                rec_pair = _grow(rec_pair, n_rec + 1)
                rec_off = _grow(rec_off, n_rec + 1)
                rec_len = _grow(rec_len, n_rec + 1)
                heap = _grow(heap, n_rec + 1)
            rec_count[n_rec] = pair_count[q]
            rec_tie[n_rec] = tok_key[pair_left[q]] * 4294967296 + tok_key[pair_right[q]]
            rec_pair[n_rec] = q
            rec_off[n_rec] = start_words
            rec_len[n_rec] = n_entry_words - start_words
            heap = _grow(heap, heap_size + 1)
            heap[heap_size] = n_rec
            n_rec += 1
            heap_size += 1
            _sift_up(heap, heap_size - 1, rec_count, rec_tie)
        progress[0] = n_tokens - 256
    return merge_left[:n_merges].copy(), merge_right[:n_merges].copy(), merge_result[:n_merges].copy()
