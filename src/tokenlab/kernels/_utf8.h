/* UTF-8 helpers shared by _lines.c and _corpus.c (encode-corpus's input side). */
#ifndef TOKENLAB_UTF8_H
#define TOKENLAB_UTF8_H
#include <stdint.h>
#include <string.h>

/* the first n bytes of b are all ASCII */
static inline int all_ascii(const uint8_t *b, Py_ssize_t n) {
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
static inline Py_ssize_t check_utf8(const uint8_t *b, Py_ssize_t n) {
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

#endif
