/* Lines of a UTF-8 buffer for the encoder, and a one-pass UTF-8 check (encode-corpus's input side).

   The encoder's batch call reads a compact ASCII str's bytes in place (no buffer protocol, no UTF-8 check), so
   an ASCII line becomes such a str; any other line becomes a bytes object, checked here as valid UTF-8. One
   pass over the buffer replaces decode + split + CR strip + filter in Python, and checks UTF-8 on the way. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_utf8.h"

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
