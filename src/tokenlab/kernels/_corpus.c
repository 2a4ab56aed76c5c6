/* encode-corpus's kernel: every line of a UTF-8 buffer encoded on its own, straight from the buffer.
 *
 * The encoder's batch call needs one Python object per line (a str or bytes); for short lines making them,
 * and the call's per-object work, cost about as much as a fifth of the encoding. Here the lines are cut at
 * "\n" (one trailing "\r" dropped, empty lines skipped), checked as UTF-8 and encoded in C with the GIL
 * released, using the Encoder's own tables and warm caches: _bpe.c is compiled into this module from the same
 * source (as _count.c does), and an Encoder made by tokenlab.kernels._bpe is accepted after checking its type
 * name, size and source id (setup.py's hash of _bpe.c). A separate extension so that a change in _bpe.c's
 * internals can only cost this module
 * (encode-corpus then cuts lines with _lines and calls Encoder.encode_batch: same ids). */

#include "_bpe.c"
#include "_utf8.h"

typedef struct {
    const Model *m;
    Cache *cache;
    const uint8_t *b;
    int64_t n;               /* the buffer's length (a line's last block is read in place up to it) */
    int64_t start, end;      /* this part of the buffer: whole lines */
    uint32_t *out;           /* capacity end - start + OUT_SLACK ids */
    int64_t n_ids;
    int64_t *doc_ends;       /* ids so far after each document, grown as needed */
    int64_t n_docs, cap_docs;
    int64_t bad;             /* offset of the first invalid UTF-8 sequence, or -1 */
    int failed;              /* out of memory */
} LinePart;

/* masks of the newlines and of the non-ASCII bytes of p[0..64) */
static inline void line_masks(const uint8_t *p, uint64_t *nl, uint64_t *hi) {
#if defined(__AVX512BW__)
    __m512i x = _mm512_loadu_si512((const void *)p);
    *nl = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('\n'));
    *hi = _mm512_movepi8_mask(x);
#elif defined(__SSE2__)
    uint64_t a = 0, h = 0;
    for (int q = 0; q < 4; q++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(p + 16 * q));
        a |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('\n'))) << (16 * q);
        h |= (uint64_t)(uint16_t)_mm_movemask_epi8(x) << (16 * q);
    }
    *nl = a;
    *hi = h;
#else
    uint64_t a = 0, h = 0;
    for (int t = 0; t < 64; t++) {
        a |= (uint64_t)(p[t] == '\n') << t;
        h |= (uint64_t)(p[t] >> 7) << t;
    }
    *nl = a;
    *hi = h;
#endif
}

#define SCAN_BYTES 4096 /* a scan call reads this far ahead at most: the lines are still in L1 when encoded */

/* where the line scan of a part stands: bytes before `at` are scanned; the line being scanned began at `line`
   and holds a non-ASCII byte already when `hi` */
typedef struct { int64_t at, line; int hi; } LineScan;

/* line [s, e) (its '\n' or the part's end at e) into the scan's output unless it is empty; 0 on invalid UTF-8 */
static inline int take_line(LinePart *p, int64_t s, int64_t e, int hi, int64_t *ls, int64_t *le, int *n) {
    const uint8_t *b = p->b;
    if (e > s && b[e - 1] == '\r') e--;
    if (e == s) return 1;
    if (hi) {
        Py_ssize_t r = check_utf8(b + s, e - s);
        if (r != e - s) {
            p->bad = s + (r < 0 ? -r - 1 : r);
            return 0;
        }
    }
    ls[*n] = s;
    le[*n] = e;
    ++*n;
    return 1;
}

/* The part's next non-empty lines, at most max of them, into [ls[j], le[j]) (cut at '\n', one trailing '\r'
   dropped), each checked as UTF-8 where it holds a non-ASCII byte; returns how many, 0 at the part's end or
   on invalid UTF-8 (p->bad set). The newlines and non-ASCII bytes of 64 bytes at a time come from two
   compares, so a line costs a bit scan, not a memchr and an ASCII check of its own. */
static int scan_lines(LinePart *p, LineScan *sc, int64_t *ls, int64_t *le, int max) {
    const uint8_t *b = p->b;
    int n = 0;
    int64_t stop = sc->at + SCAN_BYTES;
    while (n < max && (n == 0 || sc->at < stop)) {
        int64_t B = sc->at;
        if (B >= p->end) {  /* scanned to the end: a last line without a newline ends there */
            if (sc->line >= p->end) break;
            int64_t s = sc->line;
            sc->line = p->end + 1;
            if (!take_line(p, s, p->end, sc->hi, ls, le, &n)) return 0;
            continue;
        }
        uint64_t nl, hi;
        int64_t width = p->end - B < 64 ? p->end - B : 64;
        if (width == 64) {
            line_masks(b + B, &nl, &hi);
        } else { /* the part's last bytes, zero-padded: zeros are neither newlines nor non-ASCII */
            uint8_t pad[64] = {0};
            memcpy(pad, b + B, (size_t)width);
            line_masks(pad, &nl, &hi);
        }
        int stopped = 0;
        while (nl) {
            int t = __builtin_ctzll(nl);
            nl &= nl - 1;
            int64_t s = sc->line, from = s > B ? s - B : 0;
            int line_hi = sc->hi || ((hi & (t ? ~0ull >> (64 - t) : 0) & (~0ull << from)) != 0);
            sc->line = B + t + 1;
            sc->hi = 0;
            if (!take_line(p, s, B + t, line_hi, ls, le, &n)) return 0;
            if (n == max) { stopped = 1; break; }
        }
        if (stopped) {
            sc->at = sc->line;
            break;
        }
        if (sc->line < B + width && (hi & (~0ull << (sc->line > B ? sc->line - B : 0)))) sc->hi = 1;
        sc->at = B + width;
    }
    return n;
}

/* Lines are short (a corpus line averages a few dozen bytes, some nine pieces), so a batch of piece ends spans
   many lines: the hot-cache lines of a whole batch are requested before its first probe, as encode_text does
   within one long text, not a few pieces ahead at each line's start. A line's pieces are added while a full
   block's worth of slots (64) is left; a line longer than that goes on in the next batch. */
#define LINE_BATCH 192
#define LONG_LINE 512   /* a line this long goes to encode_text: batching gains nothing there (and cost ~10%) */
#define SCAN_LINES 256

/* out of line, as encode_text calls it: inlined into the loop below, a warm pass over 10 MB of corpus lines took
   ~1 ms (2-4 %) longer (measured by hand) */
static __attribute__((noinline)) int line_ends(const Model *m, const uint8_t *b, int64_t i, int64_t ce, int64_t bend,
                                               int64_t *ends, int max) {
    return fill_ends(m, b, i, ce, bend, ends, max);
}

static inline int push_doc_end(LinePart *p, int64_t o) {
    if (p->n_docs == p->cap_docs) {
        int64_t cap = p->cap_docs ? 2 * p->cap_docs : 4096;
        int64_t *d = realloc(p->doc_ends, cap * sizeof(int64_t));
        if (!d) { p->failed = 1; return 0; }
        p->doc_ends = d;
        p->cap_docs = cap;
    }
    p->doc_ends[p->n_docs++] = o;
    return 1;
}

static void encode_part_batched(LinePart *p) {
    const Model *m = p->m;
    Cache *cache = p->cache;
    const uint8_t *b = p->b;
    int64_t ends[LINE_BATCH], starts[LINE_BATCH], ls_[SCAN_LINES], le_[SCAN_LINES];
    HotKey keys[LINE_BATCH];
    uint8_t closes[LINE_BATCH];   /* piece t is its line's last */
    LineScan sc = {p->start, p->start, 0};
    int n_lines = 0, next = 0;
    int64_t ls = 0, le = 0, o = 0;
    for (;;) {
        int np = 0;
        int64_t long_s = -1, long_e = 0;   /* a long line, encoded on its own after this batch */
        while (np <= LINE_BATCH - 64) {
            if (ls == le) {
                if (next == n_lines) {
                    n_lines = scan_lines(p, &sc, ls_, le_, SCAN_LINES);
                    next = 0;
                    if (!n_lines) break;
                }
                if (le_[next] - ls_[next] >= LONG_LINE) {
                    long_s = ls_[next];
                    long_e = le_[next++];
                    break;
                }
                ls = ls_[next];
                le = le_[next++];
            }
            int got = line_ends(m, b, ls, le, p->n, ends + np, LINE_BATCH - np);
            for (int t = np; t < np + got; t++) {
                starts[t] = ls;
                ls = ends[t];
                closes[t] = 0;
            }
            np += got;
            if (ls == le) closes[np - 1] = 1;
        }
        if (p->bad >= 0) return;
        for (int t = 0; t < np; t++) {
            keys[t] = hot_key(cache, b, starts[t], ends[t], p->n);
            if (t < PREFETCH_AHEAD && keys[t].he) __builtin_prefetch(keys[t].he);
        }
        for (int t = 0; t < np; t++) {
            if (t + PREFETCH_AHEAD < np && keys[t + PREFETCH_AHEAD].he)
                __builtin_prefetch(keys[t + PREFETCH_AHEAD].he);
            int64_t k = encode_piece(m, cache, b, starts[t], ends[t], p->n, keys[t], p->out + o);
            if (k < 0) { p->failed = 1; return; }
            o += k;
            if (closes[t] && !push_doc_end(p, o)) return;
        }
        if (long_s >= 0) {
            int64_t k = encode_text(m, cache, b + long_s, long_e - long_s, p->out + o);
            if (k < 0) { p->failed = 1; return; }
            o += k;
            if (!push_doc_end(p, o)) return;
        } else if (!np) {
            break;
        }
    }
    p->n_ids = o;
}

static void encode_part(LinePart *p) {
    if (p->m->pattern != P_NONE && p->m->split_digits <= 0) { /* no chunks: pieces straight from the lines */
        encode_part_batched(p);
        return;
    }
    int64_t ls[SCAN_LINES], le[SCAN_LINES], o = 0;   /* chunked or whole-text models: one encode_text per line */
    LineScan sc = {p->start, p->start, 0};
    int n_lines;
    while ((n_lines = scan_lines(p, &sc, ls, le, SCAN_LINES)) > 0) {
        for (int j = 0; j < n_lines; j++) {
            int64_t k = encode_text(p->m, p->cache, p->b + ls[j], le[j] - ls[j], p->out + o);
            if (k < 0) { p->failed = 1; return; }
            o += k;
            if (!push_doc_end(p, o)) return;
        }
    }
    p->n_ids = o;
}

#define LINE_CHUNK (1 << 18) /* bytes per task for threads: small enough that a preempted thread holds up little */
#define LINE_CHUNK_MIN (1 << 15) /* the last parts shrink to this: threads finish a call nearly together */

/* the next part's size with threads: LINE_CHUNK, shrinking towards the end of the buffer (a part of at most an
   eighth of what is left per thread) so that no thread is left with a long last part while the others idle */
static int64_t part_bytes(int64_t left, int nthreads) {
    int64_t size = left / (4 * (int64_t)nthreads);
    return size > LINE_CHUNK ? LINE_CHUNK : size < LINE_CHUNK_MIN ? LINE_CHUNK_MIN : size;
}

typedef struct {
    LinePart *parts;
    int64_t n_parts;
    volatile int64_t *next; /* shared by all workers: the next part to take */
    Cache *cache;
} LineWorker;

static void *line_worker(void *arg) {
    LineWorker *w = arg;
    for (;;) {
        int64_t t = __sync_fetch_and_add(w->next, 1);
        if (t >= w->n_parts) break;
        w->parts[t].cache = w->cache;
        encode_part(&w->parts[t]);
    }
    return NULL;
}

/* encode_lines(encoder, data, num_threads) -> (ids, ends): the ids of every non-empty line of data back to
 * back (a uint32 bytearray) and after each line the number of ids so far (int64 bytes). ValueError("not valid
 * UTF-8 at byte N") on the first invalid sequence; TypeError when encoder is not a tokenlab.kernels._bpe.Encoder
 * built from this module's source. With threads, the data is cut at line ends into parts of ~256 KB, smaller
 * towards the end, that the threads take one at a time (this thread with the Encoder's own cache, the others
 * with its pool's). The ids are written straight into the returned bytearray (each part at its first byte's
 * offset, then moved together and the array shrunk in place: no copy of the whole output). */
static PyObject *py_encode_lines(PyObject *self, PyObject *args) {
    PyObject *enc_obj, *data_obj;
    int nthreads;
    if (!PyArg_ParseTuple(args, "OOi", &enc_obj, &data_obj, &nthreads)) return NULL;
    if (strcmp(Py_TYPE(enc_obj)->tp_name, "tokenlab.kernels._bpe.Encoder") != 0
        || Py_TYPE(enc_obj)->tp_basicsize != (Py_ssize_t)sizeof(EncoderObject)
        || ((EncoderObject *)enc_obj)->source_id != BPE_SOURCE_ID) {  /* the same _bpe.c, not just the same size */
        PyErr_SetString(PyExc_TypeError, "encode_lines: expected a tokenlab.kernels._bpe.Encoder of this build");
        return NULL;
    }
    EncoderObject *enc = (EncoderObject *)enc_obj;
    if (!enc->m.cls) { PyErr_SetString(PyExc_RuntimeError, "Encoder not initialised"); return NULL; }
    Py_buffer view;
    if (PyObject_GetBuffer(data_obj, &view, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *b = view.buf;
    int64_t n = view.len;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > 64) nthreads = 64;
    if (n < 2 * LINE_CHUNK) nthreads = 1;
    /* the parts: one for a single thread, else ~LINE_CHUNK bytes each, every one ending just after a line end */
    int64_t n_parts = 0, cap_parts = nthreads == 1 ? 1 : n / LINE_CHUNK_MIN + 2;
    LinePart *parts = calloc(cap_parts, sizeof(LinePart));
    PyObject *res = NULL;
    if (!parts) { PyErr_NoMemory(); goto release; }
    for (int64_t s = 0; s < n;) {
        int64_t e = nthreads == 1 ? n : s + part_bytes(n - s, nthreads);
        if (e >= n) e = n;
        else {
            const uint8_t *nl = memchr(b + e, '\n', n - e);
            e = nl ? nl - b + 1 : n;
        }
        if (n_parts == cap_parts) { /* cannot happen (parts are >= LINE_CHUNK_MIN bytes but the last), kept safe */
            LinePart *q = realloc(parts, 2 * cap_parts * sizeof(LinePart));
            if (!q) { PyErr_NoMemory(); goto release; }
            memset(q + cap_parts, 0, cap_parts * sizeof(LinePart));
            parts = q;
            cap_parts *= 2;
        }
        parts[n_parts].start = s;
        parts[n_parts].end = e;
        n_parts++;
        s = e;
    }
    if (n_parts < nthreads) nthreads = n_parts > 0 ? (int)n_parts : 1;
    int owned = 1, pooled = 0, ok = 1;
    uint32_t *obuf = NULL;
    Cache *cache1 = NULL;
    LineWorker workers[64];
    /* the output: room for every part's ids at its first byte's offset (pages are mapped only where written) */
    PyObject *ids = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)((n + n_parts * OUT_SLACK) * 4));
    if (!ids) goto release;
    /* the encoder's own warm cache: this thread's (its output buffer is not used) */
    cache1 = take_cache(enc, &owned, &obuf, 0);
    if (!cache1) ok = 0;
    if (nthreads > 1) {
        pooled = __sync_bool_compare_and_swap(&enc->pool_busy, 0, 1);
        workers[0].cache = cache1;
        for (int t = 1; t < nthreads; t++) {
            workers[t].cache = NULL;
            if (!ok) continue;
            if (pooled) {
                if (!enc->pool[t]) enc->pool[t] = new_cache();
                workers[t].cache = enc->pool[t];
            } else {
                workers[t].cache = new_cache();
            }
            if (!workers[t].cache) ok = 0;
        }
    }
    uint32_t *base = (uint32_t *)PyByteArray_AS_STRING(ids);
    for (int64_t t = 0; t < n_parts; t++) { /* part t writes at its first byte's offset, plus the slack before it */
        parts[t].m = &enc->m;
        parts[t].b = b;
        parts[t].n = n;
        parts[t].bad = -1;
        parts[t].out = base ? base + parts[t].start + t * OUT_SLACK : NULL;
    }
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        if (nthreads == 1) {
            for (int64_t t = 0; t < n_parts; t++) {
                parts[t].cache = cache1;
                encode_part(&parts[t]);
            }
        } else {
            pthread_t tids[64];
            int started[64] = {0};
            volatile int64_t next = 0;
            for (int t = 0; t < nthreads; t++) {
                workers[t].parts = parts;
                workers[t].n_parts = n_parts;
                workers[t].next = &next;
            }
            for (int t = 1; t < nthreads; t++)
                started[t] = pthread_create(&tids[t], NULL, line_worker, &workers[t]) == 0;
            line_worker(&workers[0]); /* this thread works too; it also finishes what a failed start left */
            for (int t = 1; t < nthreads; t++) if (started[t]) pthread_join(tids[t], NULL);
        }
        Py_END_ALLOW_THREADS
    }
    int64_t bad = -1, total_ids = 0, total_docs = 0;
    for (int64_t t = 0; t < n_parts; t++) {
        if (parts[t].failed) ok = 0;
        if (parts[t].bad >= 0 && (bad < 0 || parts[t].bad < bad)) bad = parts[t].bad;
        total_ids += parts[t].n_ids;
        total_docs += parts[t].n_docs;
    }
    if (!ok) {
        PyErr_NoMemory();
    } else if (bad >= 0) {
        PyErr_Format(PyExc_ValueError, "not valid UTF-8 at byte %lld", (long long)bad);
    } else {
        PyObject *ends = PyByteArray_FromStringAndSize(NULL, total_docs * 8);
        if (ends) {
            int64_t *de = (int64_t *)PyByteArray_AS_STRING(ends);
            int64_t at = 0, d = 0;
            for (int64_t t = 0; t < n_parts; t++) { /* parts move down, in order: a move never overwrites ids
                                                      not yet moved (part t starts at or after where it goes) */
                if (parts[t].out != base + at) memmove(base + at, parts[t].out, parts[t].n_ids * 4);
                for (int64_t j = 0; j < parts[t].n_docs; j++) de[d++] = at + parts[t].doc_ends[j];
                at += parts[t].n_ids;
            }
            /* shrinking a large bytearray reallocs in place (mremap for an mmap'd block): no copy */
            if (PyByteArray_Resize(ids, (Py_ssize_t)(total_ids * 4)) == 0) res = PyTuple_Pack(2, ids, ends);
            Py_DECREF(ends);
        }
    }
    Py_DECREF(ids);
    for (int64_t t = 0; t < n_parts; t++) free(parts[t].doc_ends);
    if (nthreads > 1) {
        if (pooled) __sync_lock_release(&enc->pool_busy);
        else for (int t = 1; t < nthreads; t++) free_cache(workers[t].cache);
    }
    if (cache1) give_cache(enc, cache1, owned, obuf);
release:
    free(parts);
    PyBuffer_Release(&view);
    return res;
}

static PyMethodDef corpus_methods[] = {
    {"encode_lines", py_encode_lines, METH_VARARGS,
     "encode_lines(encoder, data, num_threads) -> (ids uint32 bytes, ids-so-far after each line, int64 bytes)"},
    {NULL, NULL, 0, NULL},
};

/* _corpus_avx512.c compiles this file again (with the AVX-512 encoder) under its own module name */
#ifndef CORPUS_MODULE_NAME
#define CORPUS_MODULE_NAME "_corpus"
#define CORPUS_MODULE_INIT PyInit__corpus
#endif
static struct PyModuleDef corpus_module = {PyModuleDef_HEAD_INIT, CORPUS_MODULE_NAME, "encode-corpus's line encoder",
                                           -1, corpus_methods};

PyMODINIT_FUNC CORPUS_MODULE_INIT(void) { return PyModule_Create(&corpus_module); }
