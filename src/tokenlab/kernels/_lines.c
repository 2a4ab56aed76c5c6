/* Lines of a UTF-8 buffer for the encoder, and a one-pass UTF-8 check (encode-corpus's input side).

   The encoder's batch call reads a compact ASCII str's bytes in place (no buffer protocol, no UTF-8 check), so
   an ASCII line becomes such a str; any other line becomes a bytes object, checked here as valid UTF-8. One
   pass over the buffer replaces decode + split + CR strip + filter in Python, and checks UTF-8 on the way. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* the first n bytes of b are all ASCII */
static int all_ascii(const uint8_t *b, Py_ssize_t n) {
    Py_ssize_t i = 0;
    uint64_t acc = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        acc |= w;
    }
    for (; i < n; i++) acc |= b[i];
    return (acc & 0x8080808080808080ull) == 0;
}

/* Check b[0:n) as UTF-8 (the rules of Python's decoder: no overlong forms, no surrogates, nothing past
   U+10FFFF). Returns n when valid; r in [0, n) when b[r:n) is the valid start of a sequence cut off by the end
   of the buffer; -(r + 1) when the sequence starting at r is invalid. */
static Py_ssize_t check_utf8(const uint8_t *b, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        if (i + 16 <= n) { /* skip ASCII 16 bytes at a time */
            uint64_t w0, w1;
            memcpy(&w0, b + i, 8);
            memcpy(&w1, b + i + 8, 8);
            if (((w0 | w1) & 0x8080808080808080ull) == 0) { i += 16; continue; }
        }
        uint8_t c = b[i];
        if (c < 0x80) { i++; continue; }
        int need;
        uint8_t lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            else if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            else if (c == 0xF4) hi = 0x8F;
        } else return -(i + 1);
        for (int k = 1; k <= need; k++) {
            if (i + k >= n) return i; /* cut off (each byte so far was allowed) */
            uint8_t d = b[i + k];
            if (k == 1 ? (d < lo || d > hi) : (d & 0xC0) != 0x80) return -(i + 1);
        }
        i += need + 1;
    }
    return n;
}

/* check_utf8(data) -> int: see check_utf8 above (the GIL is released for large buffers) */
static PyObject *py_check_utf8(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t r;
    if (view.len > (1 << 16)) {
        Py_BEGIN_ALLOW_THREADS
        r = check_utf8(view.buf, view.len);
        Py_END_ALLOW_THREADS
    } else {
        r = check_utf8(view.buf, view.len);
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(r);
}

/* lines(data) -> list: the non-empty lines of data (cut at "\n", one trailing "\r" removed), each an ASCII str
   or, when it holds other characters, its UTF-8 bytes. ValueError("... at byte N") names the first invalid
   UTF-8 sequence (a sequence may not span a line end). */
static PyObject *py_lines(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *b = view.buf;
    Py_ssize_t n = view.len, i = 0;
    PyObject *out = PyList_New(0);
    if (!out) goto fail;
    while (i < n) {
        const uint8_t *nl = memchr(b + i, '\n', n - i);
        Py_ssize_t e = nl ? nl - b : n, next = nl ? e + 1 : n;
        if (e > i && b[e - 1] == '\r') e--;
        Py_ssize_t len = e - i;
        if (len > 0) {
            PyObject *item;
            if (all_ascii(b + i, len)) {
                item = PyUnicode_New(len, 127);
                if (item) memcpy(PyUnicode_DATA(item), b + i, len);
            } else {
                Py_ssize_t r = check_utf8(b + i, len);
                if (r != len) {
                    Py_ssize_t at = i + (r < 0 ? -r - 1 : r);
                    PyErr_Format(PyExc_ValueError, "not valid UTF-8 at byte %zd", at);
                    goto fail;
                }
                item = PyBytes_FromStringAndSize((const char *)b + i, len);
            }
            if (!item) goto fail;
            int rc = PyList_Append(out, item);
            Py_DECREF(item);
            if (rc < 0) goto fail;
        }
        i = next;
    }
    PyBuffer_Release(&view);
    return out;
fail:
    Py_XDECREF(out);
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef methods[] = {
    {"check_utf8", py_check_utf8, METH_O,
     "check_utf8(data) -> n if valid; r < n: data[r:] is a cut-off sequence; -(r + 1): invalid at r"},
    {"lines", py_lines, METH_O,
     "lines(data) -> non-empty lines (one trailing CR removed): ASCII as str, others as UTF-8 bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lines", "UTF-8 lines for encode-corpus", -1, methods};

PyMODINIT_FUNC PyInit__lines(void) { return PyModule_Create(&module); }
