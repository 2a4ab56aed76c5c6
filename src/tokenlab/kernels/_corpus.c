/* encode-corpus's kernel: every line of a UTF-8 buffer encoded on its own, straight from the buffer.
 *
 * The encoder's batch call needs one Python object per line (a str or bytes); for short lines making them,
 * and the call's per-object work, cost about as much as a fifth of the encoding. Here the lines are cut at
 * "\n" (one trailing "\r" dropped, empty lines skipped), checked as UTF-8 and encoded in C with the GIL
 * released, using the Encoder's own tables and warm caches: _bpe.c is compiled into this module from the same
 * source (as _count.c does), and an Encoder made by tokenlab.kernels._bpe is accepted after checking its type
 * name and size. A separate extension so that a change in _bpe.c's internals can only cost this module
 * (encode-corpus then cuts lines with _lines and calls Encoder.encode_batch: same ids). */

#include "_bpe.c"
#include "_utf8.h"

typedef struct {
    const Model *m;
    Cache *cache;
    const uint8_t *b;
    int64_t start, end;      /* this part of the buffer: whole lines */
    uint32_t *out;           /* capacity end - start + OUT_SLACK ids */
    int64_t n_ids;
    int64_t *doc_ends;       /* ids so far after each document, grown as needed */
    int64_t n_docs, cap_docs;
    int64_t bad;             /* offset of the first invalid UTF-8 sequence, or -1 */
    int failed;              /* out of memory */
} LinePart;

static void encode_part(LinePart *p) {
    const uint8_t *b = p->b;
    int64_t i = p->start, o = 0;
    while (i < p->end) {
        const uint8_t *nl = memchr(b + i, '\n', p->end - i);
        int64_t e = nl ? nl - b : p->end, next = nl ? e + 1 : p->end;
        if (e > i && b[e - 1] == '\r') e--;
        int64_t len = e - i;
        if (len > 0) {
            if (!all_ascii(b + i, len)) {
                Py_ssize_t r = check_utf8(b + i, len);
                if (r != len) {
                    p->bad = i + (r < 0 ? -r - 1 : r);
                    return;
                }
            }
            if (p->n_docs == p->cap_docs) {
                int64_t cap = p->cap_docs ? 2 * p->cap_docs : 4096;
                int64_t *d = realloc(p->doc_ends, cap * sizeof(int64_t));
                if (!d) { p->failed = 1; return; }
                p->doc_ends = d;
                p->cap_docs = cap;
            }
            int64_t k = encode_text(p->m, p->cache, b + i, len, p->out + o);
            if (k < 0) { p->failed = 1; return; }
            o += k;
            p->doc_ends[p->n_docs++] = o;
        }
        i = next;
    }
    p->n_ids = o;
}

static void *part_worker(void *arg) {
    encode_part(arg);
    return NULL;
}

/* encode_lines(encoder, data, num_threads) -> (ids, ends): the ids of every non-empty line of data back to
 * back (uint32 bytes) and after each line the number of ids so far (int64 bytes). ValueError("not valid UTF-8
 * at byte N") on the first invalid sequence; TypeError when encoder is not a tokenlab.kernels._bpe.Encoder
 * built from this module's source. */
static PyObject *py_encode_lines(PyObject *self, PyObject *args) {
    PyObject *enc_obj, *data_obj;
    int nthreads;
    if (!PyArg_ParseTuple(args, "OOi", &enc_obj, &data_obj, &nthreads)) return NULL;
    if (strcmp(Py_TYPE(enc_obj)->tp_name, "tokenlab.kernels._bpe.Encoder") != 0
        || Py_TYPE(enc_obj)->tp_basicsize != (Py_ssize_t)sizeof(EncoderObject)) {
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
    if (n < 65536) nthreads = 1;
    LinePart parts[64];
    memset(parts, 0, sizeof(parts));
    /* parts of about n / nthreads bytes, each ending just after a line end */
    int np = 0;
    for (int64_t s = 0; s < n && np < nthreads; np++) {
        int64_t e = np == nthreads - 1 ? n : s + (n - s) / (nthreads - np);
        if (e < n) {
            const uint8_t *nl = memchr(b + e, '\n', n - e);
            e = nl ? nl - b + 1 : n;
        }
        parts[np].start = s;
        parts[np].end = e;
        s = e;
    }
    PyObject *res = NULL;
    int owned = 1, pooled = 0;
    uint32_t *obuf = NULL;
    Cache *cache1 = NULL;
    int ok = 1;
    for (int t = 0; t < np; t++) {
        parts[t].m = &enc->m;
        parts[t].b = b;
        parts[t].bad = -1;
    }
    if (np <= 1) { /* the encoder's own warm cache and output buffer */
        cache1 = take_cache(enc, &owned, &obuf, n);
        if (!cache1) ok = 0;
        else if (np == 1) { parts[0].cache = cache1; parts[0].out = obuf; }
    } else {
        pooled = __sync_bool_compare_and_swap(&enc->pool_busy, 0, 1);
        for (int t = 0; t < np && ok; t++) {
            if (pooled) {
                if (!enc->pool[t]) enc->pool[t] = new_cache();
                parts[t].cache = enc->pool[t];
            } else {
                parts[t].cache = new_cache();
            }
            parts[t].out = malloc((size_t)(parts[t].end - parts[t].start + OUT_SLACK) * sizeof(uint32_t));
            if (!parts[t].cache || !parts[t].out) ok = 0;
        }
    }
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        if (np == 1) {
            encode_part(&parts[0]);
        } else if (np > 1) {
            pthread_t tids[64];
            int started[64] = {0};
            for (int t = 1; t < np; t++) started[t] = pthread_create(&tids[t], NULL, part_worker, &parts[t]) == 0;
            encode_part(&parts[0]);
            for (int t = 1; t < np; t++) {
                if (started[t]) pthread_join(tids[t], NULL);
                else encode_part(&parts[t]);
            }
        }
        Py_END_ALLOW_THREADS
    }
    int64_t bad = -1, total_ids = 0, total_docs = 0;
    for (int t = 0; t < np; t++) {
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
        PyObject *ids = PyByteArray_FromStringAndSize(NULL, total_ids * 4);
        PyObject *ends = PyByteArray_FromStringAndSize(NULL, total_docs * 8);
        if (ids && ends) {
            char *dst = PyByteArray_AS_STRING(ids);
            int64_t *de = (int64_t *)PyByteArray_AS_STRING(ends);
            int64_t at = 0, d = 0;
            for (int t = 0; t < np; t++) {
                memcpy(dst + at * 4, parts[t].out, parts[t].n_ids * 4);
                for (int64_t j = 0; j < parts[t].n_docs; j++) de[d++] = at + parts[t].doc_ends[j];
                at += parts[t].n_ids;
            }
            res = PyTuple_Pack(2, ids, ends);
        }
        Py_XDECREF(ids);
        Py_XDECREF(ends);
    }
    for (int t = 0; t < np; t++) free(parts[t].doc_ends);
    if (np <= 1) {
        if (cache1) give_cache(enc, cache1, owned, obuf);
    } else {
        for (int t = 0; t < np; t++) {
            free(parts[t].out);
            if (!pooled && parts[t].cache) free_cache(parts[t].cache);
        }
        if (pooled) __sync_lock_release(&enc->pool_busy);
    }
    PyBuffer_Release(&view);
    return res;
}

static PyMethodDef corpus_methods[] = {
    {"encode_lines", py_encode_lines, METH_VARARGS,
     "encode_lines(encoder, data, num_threads) -> (ids uint32 bytes, ids-so-far after each line, int64 bytes)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef corpus_module = {PyModuleDef_HEAD_INIT, "_corpus", "encode-corpus's line encoder", -1,
                                           corpus_methods};

PyMODINIT_FUNC PyInit__corpus(void) { return PyModule_Create(&corpus_module); }
