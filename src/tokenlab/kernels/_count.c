/* Pretoken counting at the encoder's own pre-tokenizer speed: the piece boundaries come from the C encoder's
 * state machines (next_piece / chunk_end of _bpe.c, compiled into this module from the same source) and go
 * straight into _train.c's counting table, with the GIL released: no Python int per piece.
 * A separate extension so that a change in _bpe.c's internals can only cost this module (training then
 * counts through Encoder.split + _train.count_split, same results). */

#include "_bpe.c"
#define TOKENLAB_TRAIN_EMBEDDED
#include "_train.c"

/* count_text(cls, data, doc_ends, pattern, split_digits) -> (starts, lengths, counts) as int64 bytes:
 * the distinct pieces of every document data[doc_ends[d-1]:doc_ends[d]] in first-seen order; pieces never
 * cross documents. cls: the encoder's class table (N_CP bytes). */
static PyObject *py_count_text(PyObject *self, PyObject *args) {
    PyObject *o_cls, *o_data, *o_ends;
    int pattern, split_digits;
    if (!PyArg_ParseTuple(args, "OOOii", &o_cls, &o_data, &o_ends, &pattern, &split_digits)) return NULL;
    Py_buffer cls = {0}, data = {0}, ends = {0};
    PyObject *res = NULL;
    if (train_buffer(o_cls, &cls, 1, 0, "cls") < 0) goto done;
    if (train_buffer(o_data, &data, 1, 0, "data") < 0) goto done;
    if (train_buffer(o_ends, &ends, 8, 0, "doc_ends") < 0) goto done;
    if (cls.len != N_CP || pattern <= P_NONE || pattern > P_TEKKEN || split_digits < 0) {
        PyErr_SetString(PyExc_ValueError, "count_text: bad class table, pattern or split_digits");
        goto done;
    }
    const int64_t *e = ends.buf;
    int64_t n_docs = ends.len / 8;
    if (check_rising(e, n_docs, data.len, "count_text: document ends must rise within the data") < 0) goto done;
    PieceTable t;
    int ok = pt_init(&t) == 0;
    const uint8_t *tab = cls.buf, *buf = data.buf;
    Py_BEGIN_ALLOW_THREADS
    int64_t a = 0;
    for (int64_t d = 0; d < n_docs && ok; d++) {
        const uint8_t *b = buf + a; /* each document on its own, as Encoder.split sees it */
        int64_t n = e[d] - a, i = 0;
        while (i < n && ok) {
            int64_t ce = chunk_end(tab, b, i, n, split_digits);
            while (i < ce) {
                int64_t j = next_piece(tab, b, i, ce, pattern);
                if (j <= i || j > ce) j = ce; /* never stall */
                if (pt_add(&t, b + i, j - i, a + i) < 0) {
                    ok = 0;
                    break;
                }
                i = j;
            }
        }
        a = e[d];
    }
    Py_END_ALLOW_THREADS
    res = ok ? pt_result(&t) : PyErr_NoMemory();
    pt_free(&t);
done:
    if (cls.obj) PyBuffer_Release(&cls);
    if (data.obj) PyBuffer_Release(&data);
    if (ends.obj) PyBuffer_Release(&ends);
    return res;
}

static PyMethodDef count_methods[] = {
    {"count_text", py_count_text, METH_VARARGS,
     "count_text(cls, data, doc_ends, pattern, split_digits) -> (starts, lengths, counts) as int64 bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef count_module = {PyModuleDef_HEAD_INIT, "_count", "Pretoken counting", -1, count_methods};

PyMODINIT_FUNC PyInit__count(void) { return PyModule_Create(&count_module); }
