/* BPE training kernels in C: the merge loop of tokenlab.train._native (same steps, same results; see the
 * docstring there for HF BpeTrainer's rules it reproduces) and pretoken counting over split points.
 * Plain C99 over flat buffers, no numba: the trainer starts without a JIT and without LLVM's memory.
 * The GIL is released while the loops run (a progress bar thread can poll the progress buffer). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MOD1 2147483647LL
#define MOD2 2147483629LL
#define BASE1 257LL
#define BASE2 263LL

/* a growable array: pointer, capacity (items); new space is zeroed */
static int grow(void **arr, int64_t *cap, int64_t need, size_t item) {
    if (need <= *cap) return 0;
    int64_t size = *cap * 2 + 1024;
    while (size < need) size *= 2;
    void *p = realloc(*arr, (size_t)size * item);
    if (!p) return -1;
    memset((char *)p + (size_t)*cap * item, 0, (size_t)(size - *cap) * item);
    *arr = p;
    *cap = size;
    return 0;
}

#define GROW(arr, cap, need) \
    do { if (grow((void **)&(arr), &(cap), (need), sizeof(*(arr))) < 0) goto nomem; } while (0)

#ifndef TOKENLAB_TRAIN_EMBEDDED /* the merge loop: not needed where _count.c includes this file */
/* ------------------------------------------------------------------------ int64 -> int64 open addressing */
typedef struct {
    int64_t *keys; /* -1 = empty */
    int64_t *vals;
    int64_t size;  /* a power of two */
    int64_t used;
} Table;

static int table_init(Table *t, int64_t size) {
    t->keys = malloc((size_t)size * sizeof(int64_t));
    t->vals = calloc((size_t)size, sizeof(int64_t));
    if (!t->keys || !t->vals) return -1;
    memset(t->keys, 0xff, (size_t)size * sizeof(int64_t));
    t->size = size;
    t->used = 0;
    return 0;
}

static void table_free(Table *t) {
    free(t->keys);
    free(t->vals);
}

static inline int64_t table_slot(const Table *t, int64_t key) {
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
    int64_t mask = t->size - 1;
    int64_t i = (int64_t)(h & (uint64_t)mask);
    while (t->keys[i] != key && t->keys[i] != -1) i = (i + 1) & mask;
    return i;
}

static int table_rehash(Table *t, int64_t size) {
    Table n;
    if (table_init(&n, size) < 0) {
        table_free(&n);
        return -1;
    }
    for (int64_t i = 0; i < t->size; i++) {
        if (t->keys[i] != -1) {
            int64_t s = table_slot(&n, t->keys[i]);
            n.keys[s] = t->keys[i];
            n.vals[s] = t->vals[i];
        }
    }
    n.used = t->used;
    table_free(t);
    *t = n;
    return 0;
}

/* slot for key, growing first so the table stays at most half full */
static int64_t table_put_slot(Table *t, int64_t key) {
    if (2 * (t->used + 1) > t->size && table_rehash(t, t->size * 2) < 0) return -1;
    return table_slot(t, key);
}

/* ------------------------------------------------------------------------ heap of records */
static inline int better(const int64_t *rc, const int64_t *rt, int64_t x, int64_t y) {
    if (rc[x] != rc[y]) return rc[x] > rc[y];
    return rt[x] < rt[y];
}

static void sift_up(int64_t *heap, int64_t pos, const int64_t *rc, const int64_t *rt) {
    int64_t item = heap[pos];
    while (pos > 0) {
        int64_t parent = (pos - 1) >> 1;
        if (better(rc, rt, item, heap[parent])) {
            heap[pos] = heap[parent];
            pos = parent;
        } else break;
    }
    heap[pos] = item;
}

static void sift_down(int64_t *heap, int64_t size, int64_t pos, const int64_t *rc, const int64_t *rt) {
    int64_t item = heap[pos];
    for (;;) {
        int64_t child = 2 * pos + 1;
        if (child >= size) break;
        if (child + 1 < size && better(rc, rt, heap[child + 1], heap[child])) child++;
        if (better(rc, rt, heap[child], item)) {
            heap[pos] = heap[child];
            pos = child;
        } else break;
    }
    heap[pos] = item;
}

/* ------------------------------------------------------------------------ the merge loop */
typedef struct {
    int32_t *left, *right, *result;
    int64_t n;
} Merges;

/* returns 0, or -1 on out of memory */
static int merge_loop(int32_t *sym, int32_t *nxt, const int64_t *word_start, const int64_t *word_count,
                      int64_t n_words, const int64_t *byte_key, int64_t n_new_tokens, int64_t min_frequency,
                      volatile int64_t *progress, Merges *out) {
    int rc = -1;
    int64_t max_tokens = 256 + n_new_tokens;
    int64_t *tok_key = calloc((size_t)max_tokens, 8), *tok_h1 = calloc((size_t)max_tokens, 8);
    int64_t *tok_h2 = calloc((size_t)max_tokens, 8), *tok_p1 = calloc((size_t)max_tokens, 8);
    int64_t *tok_p2 = calloc((size_t)max_tokens, 8), *tok_off = calloc((size_t)max_tokens + 1, 8);
    uint8_t *tok_buf = NULL;
    int64_t tok_buf_cap = 0;
    Table by_hash = {0}, pairs = {0};
    int32_t *pair_left = NULL, *pair_right = NULL;
    int64_t *pair_count = NULL, *pair_head = NULL;
    int64_t pl_cap = 0, pr_cap = 0, pc_cap = 0, ph_cap = 0;
    int64_t *rec_count = NULL, *rec_tie = NULL, *rec_pair = NULL, *rec_off = NULL, *rec_len = NULL, *heap = NULL;
    int64_t rcn_cap = 0, rt_cap = 0, rp_cap = 0, ro_cap = 0, rl_cap = 0, hp_cap = 0;
    int32_t *entry_words = NULL;
    int64_t ew_cap = 0;
    int64_t *words_per_pair = calloc(65536 + 1, 8), *last_word = malloc(65536 * 8), *fill = NULL;
    int64_t *new_pair = NULL, *new_link = NULL, *touched = NULL;
    int32_t *new_word = NULL;
    int64_t np_cap = 0, nl_cap = 0, nw_cap = 0, tc_cap = 0;
    int64_t n_merges = 0, m_cap = 0;
    int32_t *m_left = NULL, *m_right = NULL, *m_result = NULL;
    int64_t ml_cap = 0, mr_cap = 0, mres_cap = 0;

    if (!tok_key || !tok_h1 || !tok_h2 || !tok_p1 || !tok_p2 || !tok_off || !words_per_pair || !last_word) goto nomem;
    GROW(tok_buf, tok_buf_cap, 4096);
    if (table_init(&by_hash, 1024) < 0 || table_init(&pairs, 1 << 16) < 0) goto nomem;
    for (int t = 0; t < 256; t++) {
        tok_key[t] = byte_key[t];
        tok_h1[t] = t + 1;
        tok_h2[t] = t + 1;
        tok_p1[t] = BASE1;
        tok_p2[t] = BASE2;
        tok_buf[t] = (uint8_t)t;
        tok_off[t + 1] = t + 1;
        int64_t key = (int64_t)(t + 1) * 2147483648LL + (t + 1);
        int64_t s = table_put_slot(&by_hash, key);
        if (s < 0) goto nomem;
        by_hash.keys[s] = key;
        by_hash.vals[s] = t;
        by_hash.used++;
    }
    int64_t n_tokens = 256;

    GROW(pair_left, pl_cap, 65536 + 1024);
    GROW(pair_right, pr_cap, 65536 + 1024);
    GROW(pair_count, pc_cap, 65536 + 1024);
    for (int64_t p = 0; p < 65536; p++) {
        pair_left[p] = (int32_t)(p >> 8);
        pair_right[p] = (int32_t)(p & 255);
    }
    int64_t n_pairs = 65536;
    int64_t max_len = 0;
    for (int64_t w = 0; w < n_words; w++) {
        int64_t n = 0;
        for (int64_t i = word_start[w]; i != -1; i = nxt[i]) n++;
        if (n > max_len) max_len = n;
    }

    int64_t n_rec = 0, heap_size = 0, n_entry_words = 0;
    GROW(rec_count, rcn_cap, 65536);
    GROW(rec_tie, rt_cap, 65536);
    GROW(rec_pair, rp_cap, 65536);
    GROW(rec_off, ro_cap, 65536);
    GROW(rec_len, rl_cap, 65536);
    GROW(heap, hp_cap, 65536);

    for (int64_t p = 0; p < 65536; p++) last_word[p] = -1;
    for (int64_t w = 0; w < n_words; w++) {
        int64_t c = word_count[w];
        int64_t i = word_start[w];
        int64_t j = nxt[i];
        while (j != -1) {
            int64_t p = (int64_t)sym[i] * 256 + sym[j];
            pair_count[p] += c;
            if (last_word[p] != w) {
                last_word[p] = w;
                words_per_pair[p + 1]++;
            }
            i = j;
            j = nxt[i];
        }
    }
    for (int64_t p = 0; p < 65536; p++) words_per_pair[p + 1] += words_per_pair[p];
    n_entry_words = words_per_pair[65536];
    GROW(entry_words, ew_cap, n_entry_words + 1);
    fill = malloc(65536 * 8);
    if (!fill) goto nomem;
    memcpy(fill, words_per_pair, 65536 * 8);
    for (int64_t p = 0; p < 65536; p++) last_word[p] = -1;
    for (int64_t w = 0; w < n_words; w++) {
        int64_t i = word_start[w];
        int64_t j = nxt[i];
        while (j != -1) {
            int64_t p = (int64_t)sym[i] * 256 + sym[j];
            if (last_word[p] != w) {
                last_word[p] = w;
                entry_words[fill[p]++] = (int32_t)w;
            }
            i = j;
            j = nxt[i];
        }
    }
    for (int64_t p = 0; p < 65536; p++) {
        if (pair_count[p] > 0) {
            rec_count[n_rec] = pair_count[p];
            rec_tie[n_rec] = tok_key[p >> 8] * 4294967296LL + tok_key[p & 255];
            rec_pair[n_rec] = p;
            rec_off[n_rec] = words_per_pair[p];
            rec_len[n_rec] = words_per_pair[p + 1] - words_per_pair[p];
            heap[heap_size++] = n_rec++;
        }
    }
    for (int64_t pos = heap_size / 2 - 1; pos >= 0; pos--) sift_down(heap, heap_size, pos, rec_count, rec_tie);

    m_cap = n_new_tokens > 16 ? n_new_tokens : 16;
    GROW(m_left, ml_cap, m_cap);
    GROW(m_right, mr_cap, m_cap);
    GROW(m_result, mres_cap, m_cap);
    GROW(pair_head, ph_cap, pl_cap);
    for (int64_t q = 0; q < ph_cap; q++) pair_head[q] = -1;

    while (n_tokens < max_tokens && heap_size > 0) {
        int64_t top = heap[0];
        int64_t p = rec_pair[top];
        int64_t live = pair_count[p];
        if (rec_count[top] != live) {
            rec_count[top] = live;
            sift_down(heap, heap_size, 0, rec_count, rec_tie);
            continue;
        }
        if (live < 1 || live < min_frequency) break;
        heap_size--;
        if (heap_size > 0) {
            heap[0] = heap[heap_size];
            sift_down(heap, heap_size, 0, rec_count, rec_tie);
        }
        int32_t a = pair_left[p], b = pair_right[p];
        int64_t h1 = (tok_h1[a] * tok_p1[b] + tok_h1[b]) % MOD1;
        int64_t h2 = (tok_h2[a] * tok_p2[b] + tok_h2[b]) % MOD2;
        int64_t hkey = h1 * 2147483648LL + h2;
        int64_t la = tok_off[a + 1] - tok_off[a], lb = tok_off[b + 1] - tok_off[b];
        int64_t new = -1;
        int64_t hs = table_slot(&by_hash, hkey);
        int hkey_known = by_hash.keys[hs] == hkey;
        if (hkey_known) {
            int64_t cand = by_hash.vals[hs];
            if (tok_off[cand + 1] - tok_off[cand] == la + lb &&
                memcmp(tok_buf + tok_off[cand], tok_buf + tok_off[a], (size_t)la) == 0 &&
                memcmp(tok_buf + tok_off[cand] + la, tok_buf + tok_off[b], (size_t)lb) == 0)
                new = cand;
        }
        if (new == -1) {
            new = n_tokens++;
            tok_key[new] = new;
            tok_h1[new] = h1;
            tok_h2[new] = h2;
            tok_p1[new] = (tok_p1[a] * tok_p1[b]) % MOD1;
            tok_p2[new] = (tok_p2[a] * tok_p2[b]) % MOD2;
            int64_t start = tok_off[new];
            GROW(tok_buf, tok_buf_cap, start + la + lb);
            memmove(tok_buf + start, tok_buf + tok_off[a], (size_t)la);
            memmove(tok_buf + start + la, tok_buf + tok_off[b], (size_t)lb);
            tok_off[new + 1] = start + la + lb;
            if (!hkey_known) {
                int64_t s = table_put_slot(&by_hash, hkey);
                if (s < 0) goto nomem;
                by_hash.keys[s] = hkey;
                by_hash.vals[s] = new;
                by_hash.used++;
            }
        }
        if (n_merges >= ml_cap) {
            GROW(m_left, ml_cap, n_merges + 1);
            GROW(m_right, mr_cap, n_merges + 1);
            GROW(m_result, mres_cap, n_merges + 1);
        }
        m_left[n_merges] = a;
        m_right[n_merges] = b;
        m_result[n_merges] = (int32_t)new;
        n_merges++;

        int64_t n_new = 0, n_touched = 0;
        for (int64_t k = rec_off[top]; k < rec_off[top] + rec_len[top]; k++) {
            int64_t w = entry_words[k];
            int64_t c = word_count[w];
            int64_t room = n_pairs + 2 * max_len + 2;
            if (room > pl_cap) {
                GROW(pair_left, pl_cap, room);
                GROW(pair_right, pr_cap, pl_cap);
                GROW(pair_count, pc_cap, pl_cap);
                int64_t old = ph_cap;
                GROW(pair_head, ph_cap, pl_cap);
                for (int64_t q = old; q < ph_cap; q++) pair_head[q] = -1;
            }
            int64_t word_first_new = n_new;
            int64_t prev = -1;
            int64_t i = word_start[w];
            while (i != -1) {
                int64_t j = nxt[i];
                if (j == -1) break;
                if (sym[i] == a && sym[j] == b) {
                    int64_t after = nxt[j];
                    sym[i] = (int32_t)new;
                    nxt[i] = (int32_t)after;
                    sym[j] = -1;
                    for (int nb = 0; nb < 2; nb++) {
                        if ((nb == 0 ? prev : after) == -1) continue;
                        for (int side = 0; side < 2; side++) {
                            int64_t x, y, q;
                            if (nb == 0) {
                                x = sym[prev];
                                y = side == 0 ? a : new;
                            } else {
                                x = side == 0 ? b : new;
                                y = sym[after];
                            }
                            if (x < 256 && y < 256) {
                                q = x * 256 + y;
                            } else {
                                int64_t key = x * 4294967296LL + y;
                                int64_t s = table_put_slot(&pairs, key);
                                if (s < 0) goto nomem;
                                if (pairs.keys[s] == key) {
                                    q = pairs.vals[s];
                                } else {
                                    q = n_pairs++;
                                    pairs.keys[s] = key;
                                    pairs.vals[s] = q;
                                    pairs.used++;
                                    pair_left[q] = (int32_t)x;
                                    pair_right[q] = (int32_t)y;
                                    pair_count[q] = 0;
                                }
                            }
                            if (side == 0) {
                                pair_count[q] -= c;
                            } else {
                                pair_count[q] += c;
                                int seen = 0;
                                for (int64_t r = word_first_new; r < n_new; r++) {
                                    if (new_pair[r] == q) {
                                        seen = 1;
                                        break;
                                    }
                                }
                                if (!seen) {
                                    GROW(new_pair, np_cap, n_new + 1);
                                    GROW(new_word, nw_cap, n_new + 1);
                                    GROW(new_link, nl_cap, n_new + 1);
                                    new_pair[n_new] = q;
                                    new_word[n_new] = (int32_t)w;
                                    if (pair_head[q] == -1) {
                                        GROW(touched, tc_cap, n_touched + 1);
                                        touched[n_touched++] = q;
                                    }
                                    new_link[n_new] = pair_head[q];
                                    pair_head[q] = n_new;
                                    n_new++;
                                }
                            }
                        }
                    }
                    prev = i;
                    i = after;
                } else {
                    prev = i;
                    i = j;
                }
            }
        }

        for (int64_t t = 0; t < n_touched; t++) {
            int64_t q = touched[t];
            int64_t r = pair_head[q];
            pair_head[q] = -1;
            if (pair_count[q] <= 0) continue;
            int64_t n_words_q = 0;
            for (int64_t r2 = r; r2 != -1; r2 = new_link[r2]) n_words_q++;
            int64_t start_words = n_entry_words;
            n_entry_words += n_words_q;
            GROW(entry_words, ew_cap, n_entry_words);
            int64_t pos = n_entry_words;
            while (r != -1) {
                entry_words[--pos] = new_word[r];
                r = new_link[r];
            }
            if (n_rec >= rcn_cap) {
                GROW(rec_count, rcn_cap, n_rec + 1);
                GROW(rec_tie, rt_cap, n_rec + 1);
                GROW(rec_pair, rp_cap, n_rec + 1);
                GROW(rec_off, ro_cap, n_rec + 1);
                GROW(rec_len, rl_cap, n_rec + 1);
            }
            GROW(heap, hp_cap, heap_size + 1);
            rec_count[n_rec] = pair_count[q];
            rec_tie[n_rec] = tok_key[pair_left[q]] * 4294967296LL + tok_key[pair_right[q]];
            rec_pair[n_rec] = q;
            rec_off[n_rec] = start_words;
            rec_len[n_rec] = n_entry_words - start_words;
            heap[heap_size++] = n_rec++;
            sift_up(heap, heap_size - 1, rec_count, rec_tie);
        }
        progress[0] = n_tokens - 256;
    }
    out->left = m_left;
    out->right = m_right;
    out->result = m_result;
    out->n = n_merges;
    m_left = m_right = m_result = NULL;
    rc = 0;
nomem:
    free(tok_key); free(tok_h1); free(tok_h2); free(tok_p1); free(tok_p2); free(tok_off); free(tok_buf);
    table_free(&by_hash); table_free(&pairs);
    free(pair_left); free(pair_right); free(pair_count); free(pair_head);
    free(rec_count); free(rec_tie); free(rec_pair); free(rec_off); free(rec_len); free(heap);
    free(entry_words); free(words_per_pair); free(last_word); free(fill);
    free(new_pair); free(new_link); free(touched); free(new_word);
    free(m_left); free(m_right); free(m_result);
    return rc;
}
#endif

/* ------------------------------------------------------------------------ Python glue */
static int train_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t item, int writable, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) return -1;
    if (view->itemsize != item || view->len % item) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd-byte items", name, item);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* 0 when the n ends rise within [0, len]; else a ValueError with message and -1 */
static int check_rising(const int64_t *e, int64_t n, Py_ssize_t len, const char *message) {
    int64_t prev = 0;
    for (int64_t k = 0; k < n; k++) {
        if (e[k] < prev || e[k] > len) {
            PyErr_SetString(PyExc_ValueError, message);
            return -1;
        }
        prev = e[k];
    }
    return 0;
}

#ifndef TOKENLAB_TRAIN_EMBEDDED /* _count.c includes this file for its counting table only */
static PyObject *py_train_merges(PyObject *self, PyObject *args) {
    PyObject *o_sym, *o_nxt, *o_ws, *o_wc, *o_bk, *o_prog;
    long long n_new, min_freq;
    if (!PyArg_ParseTuple(args, "OOOOOLLO", &o_sym, &o_nxt, &o_ws, &o_wc, &o_bk, &n_new, &min_freq, &o_prog))
        return NULL;
    Py_buffer sym = {0}, nxt = {0}, ws = {0}, wc = {0}, bk = {0}, prog = {0};
    PyObject *res = NULL;
    if (train_buffer(o_sym, &sym, 4, 1, "sym") < 0) goto done;
    if (train_buffer(o_nxt, &nxt, 4, 1, "nxt") < 0) goto done;
    if (train_buffer(o_ws, &ws, 8, 0, "word_start") < 0) goto done;
    if (train_buffer(o_wc, &wc, 8, 0, "word_count") < 0) goto done;
    if (train_buffer(o_bk, &bk, 8, 0, "byte_key") < 0) goto done;
    if (train_buffer(o_prog, &prog, 8, 1, "progress") < 0) goto done;
    int64_t n_words = ws.len / 8, n_nodes = sym.len / 4;
    if (nxt.len != sym.len || wc.len != ws.len || bk.len != 256 * 8 || prog.len < 8 || n_new < 0) {
        PyErr_SetString(PyExc_ValueError, "train_merges: inconsistent array sizes");
        goto done;
    }
    const int64_t *starts = ws.buf;
    const int32_t *sy = sym.buf, *nx = nxt.buf;
    for (int64_t w = 0; w < n_words; w++) {  /* every word: in range, at least one node */
        if (starts[w] < 0 || starts[w] >= n_nodes) {
            PyErr_SetString(PyExc_ValueError, "train_merges: word start out of range");
            goto done;
        }
    }
    for (int64_t i = 0; i < n_nodes; i++) {
        if (sy[i] < 0 || sy[i] > 255 || nx[i] < -1 || nx[i] >= n_nodes) {
            PyErr_SetString(PyExc_ValueError, "train_merges: node arrays out of range");
            goto done;
        }
    }
    Merges m = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = merge_loop(sym.buf, nxt.buf, ws.buf, wc.buf, n_words, bk.buf, (int64_t)n_new, (int64_t)min_freq,
                    (volatile int64_t *)prog.buf, &m);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_NoMemory();
        goto done;
    }
    static const char none[4];  /* y# turns a NULL pointer into None */
    res = Py_BuildValue("(y#y#y#)", m.left ? (const char *)m.left : none, (Py_ssize_t)(m.n * 4),
                        m.right ? (const char *)m.right : none, (Py_ssize_t)(m.n * 4),
                        m.result ? (const char *)m.result : none, (Py_ssize_t)(m.n * 4));
    free(m.left);
    free(m.right);
    free(m.result);
done:
    if (sym.obj) PyBuffer_Release(&sym);
    if (nxt.obj) PyBuffer_Release(&nxt);
    if (ws.obj) PyBuffer_Release(&ws);
    if (wc.obj) PyBuffer_Release(&wc);
    if (bk.obj) PyBuffer_Release(&bk);
    if (prog.obj) PyBuffer_Release(&prog);
    return res;
}

#endif

/* ------------------------------------------------------------------------ pretoken counting */
/* distinct pieces in order of first occurrence with their counts; each piece's bytes are packed in `keys`,
 * so a lookup compares against this small buffer, never the big text (one cache miss less per piece) */
typedef struct {
    int64_t cap, n, info_cap, key_cap, key_len;
    int64_t *slots, *starts, *lengths, *counts, *key_off;
    uint64_t *hashes;
    uint8_t *keys;
} PieceTable;

static int pt_init(PieceTable *t) {
    memset(t, 0, sizeof(*t));
    t->cap = 1 << 16;
    t->slots = malloc((size_t)t->cap * 8);
    if (!t->slots) return -1;
    memset(t->slots, 0xff, (size_t)t->cap * 8);
    return 0;
}

static void pt_free(PieceTable *t) {
    free(t->slots); free(t->starts); free(t->lengths); free(t->counts); free(t->hashes); free(t->key_off);
    free(t->keys);
}

/* count piece[0:len) (found at offset start of the text); -1 on out of memory */
static inline int pt_add(PieceTable *t, const uint8_t *piece, int64_t len, int64_t start) {
    uint64_t h = 14695981039346656037ULL;
    for (int64_t i = 0; i < len; i++) h = (h ^ piece[i]) * 1099511628211ULL;
    int64_t mask = t->cap - 1, j = (int64_t)(h & (uint64_t)mask), p;
    for (;;) {
        p = t->slots[j];
        if (p == -1) break;
        if (t->hashes[p] == h && t->lengths[p] == len && memcmp(t->keys + t->key_off[p], piece, (size_t)len) == 0) {
            t->counts[p]++;
            return 0;
        }
        j = (j + 1) & mask;
    }
    int64_t n = t->n;
    if (n + 1 > t->info_cap) {
        int64_t c1 = t->info_cap, c2 = c1, c3 = c1, c4 = c1, c5 = c1;
        if (grow((void **)&t->starts, &c1, n + 1, 8) < 0 || grow((void **)&t->lengths, &c2, n + 1, 8) < 0 ||
            grow((void **)&t->counts, &c3, n + 1, 8) < 0 || grow((void **)&t->hashes, &c4, n + 1, 8) < 0 ||
            grow((void **)&t->key_off, &c5, n + 1, 8) < 0)
            return -1;
        t->info_cap = c1;
    }
    if (grow((void **)&t->keys, &t->key_cap, t->key_len + len, 1) < 0) return -1;
    memcpy(t->keys + t->key_len, piece, (size_t)len);
    t->key_off[n] = t->key_len;
    t->key_len += len;
    t->starts[n] = start;
    t->lengths[n] = len;
    t->counts[n] = 1;
    t->hashes[n] = h;
    t->slots[j] = n;
    t->n = ++n;
    if (2 * n > t->cap) { /* keep the table at most half full */
        int64_t cap = t->cap * 2;
        int64_t *ns = malloc((size_t)cap * 8);
        if (!ns) return -1;
        memset(ns, 0xff, (size_t)cap * 8);
        for (int64_t q = 0; q < n; q++) {
            int64_t jj = (int64_t)(t->hashes[q] & (uint64_t)(cap - 1));
            while (ns[jj] != -1) jj = (jj + 1) & (cap - 1);
            ns[jj] = q;
        }
        free(t->slots);
        t->slots = ns;
        t->cap = cap;
    }
    return 0;
}

/* (starts, lengths, counts) as three int64 bytes objects */
static PyObject *pt_result(const PieceTable *t) {
    static const char none[8]; /* y# turns a NULL pointer into None: empty results point here */
    Py_ssize_t size = (Py_ssize_t)(t->n * 8);
    return Py_BuildValue("(y#y#y#)", t->starts ? (const char *)t->starts : none, size,
                         t->lengths ? (const char *)t->lengths : none, size,
                         t->counts ? (const char *)t->counts : none, size);
}

#ifndef TOKENLAB_TRAIN_EMBEDDED
/* the distinct pieces data[ends[k-1]:ends[k]] (ends[-1] = 0); ends must rise within the data */
static PyObject *count_core(const uint8_t *buf, const int64_t *e, int64_t n) {
    PieceTable t;
    int ok = pt_init(&t) == 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t s = 0;
    for (int64_t k = 0; k < n && ok; k++) {
        if (e[k] > s && pt_add(&t, buf + s, e[k] - s, s) < 0) ok = 0;
        s = e[k];
    }
    Py_END_ALLOW_THREADS
    PyObject *res = ok ? pt_result(&t) : PyErr_NoMemory();
    pt_free(&t);
    return res;
}

/* count_pieces(data, ends): count_core over a buffer of int64 ends */
static PyObject *py_count_pieces(PyObject *self, PyObject *args) {
    PyObject *o_data, *o_ends;
    if (!PyArg_ParseTuple(args, "OO", &o_data, &o_ends)) return NULL;
    Py_buffer data = {0}, ends = {0};
    PyObject *res = NULL;
    if (train_buffer(o_data, &data, 1, 0, "data") < 0) goto done;
    if (train_buffer(o_ends, &ends, 8, 0, "ends") < 0) goto done;
    const int64_t *e = ends.buf;
    int64_t n = ends.len / 8;
    if (check_rising(e, n, data.len, "count_pieces: ends must rise within the data") < 0) goto done;
    res = count_core(data.buf, e, n);
done:
    if (data.obj) PyBuffer_Release(&data);
    if (ends.obj) PyBuffer_Release(&ends);
    return res;
}

/* count_split(data, cuts): ``cuts`` is a list of (offset, list of piece ends within the document at offset)
 * (what the encoder's split() returns per document); read here, without numpy, then counted as count_pieces */
static PyObject *py_count_split(PyObject *self, PyObject *args) {
    PyObject *o_data, *cuts;
    if (!PyArg_ParseTuple(args, "OO!", &o_data, &PyList_Type, &cuts)) return NULL;
    Py_buffer data = {0};
    PyObject *res = NULL;
    int64_t *e = NULL, n = 0, cap = 0, prev = 0;
    if (train_buffer(o_data, &data, 1, 0, "data") < 0) goto done;
    for (Py_ssize_t d = 0; d < PyList_GET_SIZE(cuts); d++) {
        PyObject *item = PyList_GET_ITEM(cuts, d);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 || !PyList_Check(PyTuple_GET_ITEM(item, 1))) {
            PyErr_SetString(PyExc_TypeError, "count_split: cuts must be a list of (offset, list of ends)");
            goto done;
        }
        int64_t offset = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 0));
        if (offset == -1 && PyErr_Occurred()) goto done;
        PyObject *ends = PyTuple_GET_ITEM(item, 1);
        Py_ssize_t m = PyList_GET_SIZE(ends);
        if (grow((void **)&e, &cap, n + m, 8) < 0) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t k = 0; k < m; k++) {
            int64_t v = PyLong_AsLongLong(PyList_GET_ITEM(ends, k));
            if (v == -1 && PyErr_Occurred()) goto done;
            v += offset;
            if (v < prev || v > data.len) {
                PyErr_SetString(PyExc_ValueError, "count_split: ends must rise within the data");
                goto done;
            }
            e[n++] = prev = v;
        }
    }
    res = count_core(data.buf, e, n);
done:
    free(e);
    if (data.obj) PyBuffer_Release(&data);
    return res;
}

static PyMethodDef methods[] = {
    {"train_merges", py_train_merges, METH_VARARGS,
     "train_merges(sym, nxt, word_start, word_count, byte_key, n_new, min_frequency, progress) -> "
     "(left, right, result) as int32 bytes; sym/nxt are changed in place"},
    {"count_pieces", py_count_pieces, METH_VARARGS,
     "count_pieces(data, ends) -> (starts, lengths, counts) as int64 bytes, distinct pieces in first-seen order"},
    {"count_split", py_count_split, METH_VARARGS,
     "count_split(data, [(offset, ends), ...]) -> as count_pieces, ends per document as lists of ints"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_train", "BPE training kernels", -1, methods};

PyMODINIT_FUNC PyInit__train(void) { return PyModule_Create(&module); }
#endif
