/* Byte-level BPE encode/decode kernel: pre-tokenizer state machines + piece cache + rank merges.
 *
 * Knows nothing of files or Python classes: it is built from flat buffers (token bytes, offsets,
 * ranks, a code-point class table) by tokenlab.kernels and returns ids as lists or uint32 bytes.
 * Semantics are those of tokenlab.encode.fast (the numba kernel), which tests compare it with:
 *   - pre-tokenizers: gpt2, cl100k, o200k, whitespace, tekken, none (+ digit-run chunking);
 *   - a piece that is a whole token encodes as that token when ignore_merges is set;
 *   - otherwise lowest rank merges first, leftmost on ties; a pair's rank is the rank of the token
 *     its bytes spell (any_split, tiktoken) or comes from the (left, right) merge table (HF).
 * Why it is fast: ASCII fast paths in the state machines, one open-addressing probe per piece in a
 * per-thread cache of recent pieces (key bytes and ids in one 64-byte line), the vocabulary probed
 * only on a cache miss, and batches split over POSIX threads with the GIL released.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#if defined(__AVX512BW__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#define LETTER 1
#define NUMBER 2
#define SPACE 4
#define UPPERISH 8
#define LOWERISH 16
#define MARK 32            /* \p{M} (the cl100k family's [\p{L}\p{M}] letters) */
#define PUNSYM 64          /* \p{P} or \p{S} (DeepSeek) */
#define LNS (LETTER | NUMBER | SPACE)
#define N_CP 0x110000

#define NO_RANK 0x7FFFFFFFu
#define SMALL 256          /* pieces up to this many bytes merge in place */
#define CACHE_BITS 16       /* the piece table starts at 2^16 entries (4 MB, touched a huge page at a time). Multilingual
                               text outgrew 2^15 within a few MB, and a growth inside a timed pass zeroed fresh pages
                               (Qwen3.5's pattern row ~40 % slower); 2^17 (8 MB) cost a cold 2-thread encode-corpus
                               run ~5 % (a fresh huge page is slow to fault in on the benchmark's VM), and after a
                               cold 10 MB run the table holds 1.5-9k entries */
#define CACHE_KEY 24       /* longest piece the cache holds (bytes) */
#define CACHE_IDS 9        /* most ids a cached piece may have */
#define GOLDEN 0x9E3779B97F4A7C15ull

enum { P_NONE = 0, P_GPT2 = 1, P_CL100K = 2, P_O200K = 3, P_WHITESPACE = 4, P_TEKKEN = 5, P_CL100K_FAMILY = 6,
       P_DEEPSEEK = 7 };
/* P_CL100K_FAMILY's parameters, in the pattern id's bits 8 and up (see next_cl100k_family) */
#define FAM_DIGITS(params) ((params) & 15) /* \p{N}{1,n}; 0: \p{N}+ */
#define FAM_MARKS 16                        /* letters are [\p{L}\p{M}] */
#define FAM_NL_FIRST 32                     /* \s*[\r\n]+|\s+(?!\S)|\s+ instead of \s++$|\s*[\r\n]|\s+(?!\S)|\s */
#define FAM_CASED 64                        /* 's|'t|... without (?i) */

typedef struct { uint64_t key; uint32_t id; uint32_t rank; } VEntry;      /* key 0 = empty */
typedef struct { uint64_t key; uint32_t rank; uint32_t merged; } PEntry;  /* key ~0 = empty */

typedef struct {
    uint64_t k[3];           /* the piece's bytes, zero-padded */
    uint8_t klen, nids, pad0, pad1;
    uint32_t ids[CACHE_IDS];
} CEntry; /* 64 bytes: one cache line */

#define HOT_BITS 18        /* 8 MB: 2^16 entries left a sixth of multilingual pieces to conflicts */
#define HOT_IDS 4
#define OUT_SLACK 8        /* output buffers hold this many ids past the text's length: hits store 4 ids blindly */
/* a piece of <= 15 bytes -> its ids (<= 4, stored as they are emitted: a hit is one 16-byte copy):
   k0 = bytes 0..7, k1 = bytes 8..14 | length << 56 | number of ids << 60 */
typedef struct { uint64_t k0, k1; uint32_t ids[HOT_IDS]; } HEntry;
#define HOT_NIDS_SHIFT 60
#define HOT_MARK (1ull << 63)  /* k1 of a slot taken by no piece of <= 4 ids: never equals a key */
enum { HOT_NONE, HOT_EMPTY, HOT_TAKEN }; /* a piece's hot slot: none (over 15 bytes), never written, written */

/* a piece of > CACHE_KEY bytes: its bytes and ids live in the cache's arenas */
typedef struct { uint64_t h; uint32_t len, nids; uint64_t boff, ioff; } LEntry; /* h 0 = empty */

#define BIG_MAX_BITS 20     /* the piece table grows to 2^20 entries (64 MB), then starts over */
#define LONG_BITS 16        /* the long-piece table: 2^16 slots (2 MB), half used at most: pieces over 24 bytes, and
                               shorter ones of more ids than the piece table holds */
#define SPACE_MAX 128       /* longest run of spaces with a slot of its own in the cache */
#define LONG_ARENA (32u << 20) /* bytes of long pieces kept before the long table starts over */

typedef struct {
    HEntry hot[1 << HOT_BITS]; /* direct-mapped, 2 MB: the most frequent short pieces, no probing */
    CEntry *big;               /* open addressing, linear probing, grows at 3/4 load: every piece of <= 24 bytes */
    uint64_t bmask; int bshift; int64_t bcount;
    LEntry *lt; int64_t lcount;  /* long pieces: hash -> bytes + ids in the arenas below */
    uint8_t *lbytes; uint64_t lbsize, lbcap;
    uint32_t *lids; uint64_t lisize, licap;
    /* runs of spaces over 15 bytes (deep indentation in code) have no hot slot: their ids by length, <= 4 ids
       (sp_n 0: not known yet), instead of a probe of the piece table per run */
    uint8_t sp_n[SPACE_MAX + 1];
    uint32_t sp_ids[SPACE_MAX + 1][HOT_IDS];
} Cache;

typedef struct {
    uint8_t *cls;            /* class bits per code point */
    uint8_t *blob;           /* token bytes by id */
    uint64_t *off;           /* n_vocab + 1 offsets into blob */
    uint8_t *ok;             /* id is a token */
    uint32_t n_vocab;
    int64_t max_len;         /* longest ordinary token: longer joins never merge */
    VEntry *vt; uint64_t vmask; int vshift;
    uint64_t *vbits; int vbshift; /* one bit per vkey hash, set for every token: a join that is no token (most
                                     of those a merge tries) is answered from this, small enough to stay cached,
                                     instead of a probe of vt that misses the cache */
    PEntry *pt; uint64_t pmask; int pshift;
    uint64_t *pbits; int pbshift; /* the same kind of filter over the merge pairs */
    uint32_t byte_ids[256];
    uint64_t *pair2;         /* merge_value of every byte pair (b0 << 8 | b1): a BPE's first step, 512 KB */
    uint32_t *char_tok;      /* per BMP code point: the token its UTF-8 bytes always merge into first, or
                                UINT32_MAX (see build_char_tokens); NULL unless any_split */
    int pattern, split_digits, ignore_merges, any_split;
    int ascii_blocks;        /* the class table's ASCII part is the one ascii_masks assumes */
} Model;

#ifndef BPE_SOURCE_ID
#define BPE_SOURCE_ID 0ull /* setup.py defines it from this file's text */
#endif

typedef struct {
    PyObject_HEAD
    uint64_t source_id;      /* BPE_SOURCE_ID of the build that made it, first so that any build can read it */
    Model m;
    Cache *cache;           /* the calling thread's cache for single-text calls */
    uint32_t *obuf;          /* and its reusable output buffer */
    PyObject **ints;         /* one int object per id, so building a list of ids allocates nothing */
    uint32_t n_ints;
    size_t ocap;
    volatile int cache_busy;
    Cache *pool[64];         /* worker threads' caches, kept warm across encode_batch calls */
    volatile int pool_busy;
} EncoderObject;

/* ------------------------------------------------------------------ UTF-8 and classes */
static inline uint32_t cp_at(const uint8_t *b, int64_t i, int *w) {
    uint32_t b0 = b[i];
    if (b0 < 0x80) { *w = 1; return b0; }
    if (b0 < 0xE0) { *w = 2; return ((b0 & 0x1F) << 6) | (b[i + 1] & 0x3F); }
    if (b0 < 0xF0) { *w = 3; return ((b0 & 0x0F) << 12) | ((b[i + 1] & 0x3F) << 6) | (b[i + 2] & 0x3F); }
    *w = 4;
    uint32_t c = ((b0 & 0x07) << 18) | ((b[i + 1] & 0x3F) << 12) | ((b[i + 2] & 0x3F) << 6) | (b[i + 3] & 0x3F);
    return c < N_CP ? c : 0;
}

static inline int cls_at(const uint8_t *tab, const uint8_t *b, int64_t i, int *w) {
    if (b[i] < 0x80) { *w = 1; return tab[b[i]]; }
    return tab[cp_at(b, i, w)];
}

/* advance over code points having any of bits */
static inline int64_t run_any(const uint8_t *tab, const uint8_t *b, int64_t j, int64_t end, int bits) {
    while (j < end) {
        uint8_t c = b[j];
        if (c < 0x80) {
            if (!(tab[c] & bits)) return j;
            j++;
        } else {
            int w;
            if (!(tab[cp_at(b, j, &w)] & bits)) return j;
            j += w;
        }
    }
    return j;
}

/* advance over code points having none of bits */
static inline int64_t run_none(const uint8_t *tab, const uint8_t *b, int64_t j, int64_t end, int bits) {
    while (j < end) {
        uint8_t c = b[j];
        if (c < 0x80) {
            if (tab[c] & bits) return j;
            j++;
        } else {
            int w;
            if (tab[cp_at(b, j, &w)] & bits) return j;
            j += w;
        }
    }
    return j;
}

/* ------------------------------------------------------------------ SWAR: 8 ASCII bytes at a time
   Each mask has the high bit of byte t set when byte t is in the class (bytes >= 0x80 are in none),
   so a run's end is one count-trailing-zeros instead of a branch per byte. */
#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull

static inline uint64_t load8u(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* bytes b with m < b < n (0 <= m <= 127, n <= 128): exact per byte, no carries between bytes */
static inline uint64_t between(uint64_t x, uint64_t m, uint64_t n) {
    return ((ONES * (127 + n) - (x & ONES * 127)) & ~x & ((x & ONES * 127) + ONES * (127 - m))) & HIGH;
}

static inline uint64_t eq_byte(uint64_t x, uint64_t c) {
    uint64_t t = x ^ (ONES * c);
    return ~(((t & ~HIGH) + ~HIGH) | t) & HIGH;
}

static inline uint64_t m_letters(uint64_t x) { return between(x | (ONES * 0x20), 0x60, 0x7B); }
static inline uint64_t m_digits(uint64_t x) { return between(x, 0x2F, 0x3A); }
static inline uint64_t m_spaces(uint64_t x) { return between(x, 0x08, 0x0E) | eq_byte(x, 0x20); }
static inline uint64_t m_newlines(uint64_t x) { return eq_byte(x, 10) | eq_byte(x, 13); }

/* run of ASCII bytes of a class, then the generic per-code-point loop from the first byte outside it */
static inline int64_t run_letters(const uint8_t *tab, const uint8_t *b, int64_t j, int64_t end) {
    while (j + 8 <= end) {
        uint64_t stop = ~m_letters(load8u(b + j)) & HIGH;
        if (stop) {
            j += __builtin_ctzll(stop) >> 3;
            if (b[j] < 0x80) return j;
            break;
        }
        j += 8;
    }
    return run_any(tab, b, j, end, LETTER);
}

/* o200k's [\p{Ll}\p{Lm}\p{Lo}\p{M}]+ (LOWERISH): in ASCII exactly a-z */
static inline int64_t run_lower(const uint8_t *tab, const uint8_t *b, int64_t j, int64_t end) {
    while (j + 8 <= end) {
        uint64_t stop = ~between(load8u(b + j), 0x60, 0x7B) & HIGH;
        if (stop) {
            j += __builtin_ctzll(stop) >> 3;
            if (b[j] < 0x80) return j;
            break;
        }
        j += 8;
    }
    return run_any(tab, b, j, end, LOWERISH);
}

/* [^\s\p{L}\p{N}]+ over ASCII punctuation */
static inline int64_t run_punct(const uint8_t *tab, const uint8_t *b, int64_t j, int64_t end) {
    while (j + 8 <= end) {
        uint64_t w = load8u(b + j);
        uint64_t stop = (m_letters(w) | m_digits(w) | m_spaces(w) | w) & HIGH;
        if (stop) {
            j += __builtin_ctzll(stop) >> 3;
            if (b[j] < 0x80) return j;
            break;
        }
        j += 8;
    }
    return run_none(tab, b, j, end, LNS);
}

static inline int64_t digits(const uint8_t *tab, const uint8_t *b, int64_t j, int64_t end, int count, int limit) {
    while (count < limit && j < end) {
        int w;
        if (!(cls_at(tab, b, j, &w) & NUMBER)) break;
        j += w;
        count++;
    }
    return j;
}

static inline int64_t run_newlines(const uint8_t *b, int64_t j, int64_t end, int slash) {
    while (j < end) {
        uint8_t c = b[j];
        if (c == 10 || c == 13 || (slash && c == 47)) j++;
        else break;
    }
    return j;
}

/* end of the whitespace run at i; *last_nl: end of its last CR/LF (-1); *prev: start of its last char */
static inline int64_t space_run(const uint8_t *tab, const uint8_t *b, int64_t i, int64_t end,
                                int64_t *last_nl, int64_t *prev) {
    int64_t j = i;
    *last_nl = -1;
    *prev = i;
    while (j + 8 <= end) { /* ASCII whitespace eight bytes at a time */
        uint64_t w = load8u(b + j);
        uint64_t stop = ~m_spaces(w) & HIGH;
        uint64_t in_run = stop ? (stop & -stop) - 1 : ~0ull; /* bits below the first stop byte */
        uint64_t nl = m_newlines(w) & in_run;
        if (nl) *last_nl = j + ((63 - __builtin_clzll(nl)) >> 3) + 1;
        int64_t k = stop ? __builtin_ctzll(stop) >> 3 : 8;
        if (k) *prev = j + k - 1;
        j += k;
        if (stop) {
            if (b[j] < 0x80) return j;
            break;
        }
    }
    while (j < end) {
        int w;
        uint32_t c;
        if (b[j] < 0x80) { c = b[j]; w = 1; } else c = cp_at(b, j, &w);
        if (!(tab[c] & SPACE)) break;
        *prev = j;
        j += w;
        if (c == 10 || c == 13) *last_nl = j;
    }
    return j;
}

static inline uint32_t fold(uint32_t c) {
    if (c >= 65 && c <= 90) return c + 32;
    if (c == 0x17F) return 115; /* LATIN SMALL LETTER LONG S folds to 's' under (?i) */
    return c;
}

/* end of 's 't 'm 'd 're 've 'll after an apostrophe ending at j, or -1 */
static inline int64_t contraction(const uint8_t *b, int64_t j, int64_t end, int do_fold) {
    if (j >= end) return -1;
    int w, w2;
    uint32_t c = cp_at(b, j, &w);
    if (do_fold) c = fold(c);
    if (c == 115 || c == 116 || c == 109 || c == 100) return j + w;
    if (j + w >= end) return -1;
    uint32_t c2 = cp_at(b, j + w, &w2);
    if (do_fold) c2 = fold(c2);
    if ((c == 108 && c2 == 108) || (c == 118 && c2 == 101) || (c == 114 && c2 == 101)) return j + w + w2;
    return -1;
}

/* ------------------------------------------------------------------ pre-tokenizer state machines */
static int64_t next_gpt2(const uint8_t *tab, const uint8_t *b, int64_t i, int64_t end) {
    int w, w2;
    uint32_t c = cp_at(b, i, &w);
    int k = tab[c];
    int64_t j = i + w;
    if (c == 39) {
        int64_t r = contraction(b, j, end, 0);
        if (r >= 0) return r;
    }
    if (c == 32 && j < end) {
        int k2 = cls_at(tab, b, j, &w2);
        if (k2 & LETTER) return run_letters(tab, b, j + w2, end);
        if (k2 & NUMBER) return run_any(tab, b, j + w2, end, NUMBER);
        if (!(k2 & LNS)) return run_punct(tab, b, j + w2, end);
    }
    if (k & LETTER) return run_letters(tab, b, j, end);
    if (k & NUMBER) return run_any(tab, b, j, end, NUMBER);
    if (!(k & SPACE)) return run_punct(tab, b, j, end);
    int64_t last_nl, prev;
    int64_t p = space_run(tab, b, i, end, &last_nl, &prev);
    if (p == end || prev == i) return p;
    return prev;
}

static inline int64_t next_cl100k(const uint8_t *tab, const uint8_t *b, int64_t i, int64_t end) {
    /* '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+
       |\s++$|\s*[\r\n]|\s+(?!\S)|\s */
    int w, w2;
    uint32_t c;
    int k;
    if (b[i] < 0x80) { c = b[i]; w = 1; } else c = cp_at(b, i, &w);
    k = tab[c];
    int64_t j = i + w;
    if (k & LETTER) return run_letters(tab, b, j, end);
    if (c == 39) {
        int64_t r = contraction(b, j, end, 1);
        if (r >= 0) return r;
    }
    if (!(k & NUMBER) && c != 10 && c != 13 && j < end) {
        if (cls_at(tab, b, j, &w2) & LETTER) return run_letters(tab, b, j + w2, end);
    }
    if (k & NUMBER) return digits(tab, b, j, end, 1, 3);
    if (c == 32 && j < end) {
        if (!(cls_at(tab, b, j, &w2) & LNS)) return run_newlines(b, run_punct(tab, b, j + w2, end), end, 0);
    }
    if (!(k & LNS)) return run_newlines(b, run_punct(tab, b, j, end), end, 0);
    int64_t last_nl, prev;
    int64_t p = space_run(tab, b, i, end, &last_nl, &prev);
    if (p == end) return p;
    if (last_nl >= 0) return last_nl;
    if (prev > i) return prev;
    return p;
}

/* [UPPERISH]*[LOWERISH]+ at p with the regex's backtracking; end or -1 */
static int64_t o200k_lower_tail(const uint8_t *tab, const uint8_t *b, int64_t p, int64_t end) {
    int64_t q = p, last_lower = -1;
    int w;
    while (q < end) {
        int k = cls_at(tab, b, q, &w);
        if (!(k & UPPERISH)) break;
        q += w;
        if (k & LOWERISH) last_lower = q;
    }
    if (q < end) {
        if (cls_at(tab, b, q, &w) & LOWERISH) return run_lower(tab, b, q + w, end);
    }
    return last_lower;
}

/* [UPPERISH]+[LOWERISH]* at p; end or -1 */
static int64_t o200k_upper_head(const uint8_t *tab, const uint8_t *b, int64_t p, int64_t end) {
    int64_t q = run_any(tab, b, p, end, UPPERISH);
    if (q == p) return -1;
    return run_lower(tab, b, q, end);
}

static inline int64_t o200k_suffix(const uint8_t *b, int64_t r, int64_t end) {
    if (r < end && b[r] == 39) {
        int64_t s = contraction(b, r + 1, end, 1);
        if (s >= 0) return s;
    }
    return r;
}

/* o200k; with contractions=0 and digit_limit=1 it is Mistral's tekken pattern */
static int64_t next_o200k(const uint8_t *tab, const uint8_t *b, int64_t i, int64_t end, int contractions,
                          int digit_limit) {
    int w, w2;
    uint32_t c = cp_at(b, i, &w);
    int k = tab[c];
    int64_t j = i + w;
    int lead = c != 10 && c != 13 && !(k & (LETTER | NUMBER));
    for (int alt = 0; alt < 2; alt++) {
        int64_t r = -1;
        if (lead) r = alt == 0 ? o200k_lower_tail(tab, b, j, end) : o200k_upper_head(tab, b, j, end);
        if (r < 0) r = alt == 0 ? o200k_lower_tail(tab, b, i, end) : o200k_upper_head(tab, b, i, end);
        if (r >= 0) return contractions ? o200k_suffix(b, r, end) : r;
    }
    if (k & NUMBER) return digits(tab, b, j, end, 1, digit_limit);
    if (c == 32 && j < end) {
        if (!(cls_at(tab, b, j, &w2) & LNS)) return run_newlines(b, run_punct(tab, b, j + w2, end), end, 1);
    }
    if (!(k & LNS)) return run_newlines(b, run_punct(tab, b, j, end), end, 1);
    int64_t last_nl, prev;
    int64_t p = space_run(tab, b, i, end, &last_nl, &prev);
    if (last_nl >= 0) return last_nl;
    if (p == end || prev == i) return p;
    return prev;
}

/* cl100k's family: Llama-3 (cl100k before its possessive rewrite), Qwen2/2.5/3 (single digits), Qwen3.5
   ([\p{L}\p{M}] letters), and any digit-group length:
   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?L+|\p{N}{1,D}| ?[^\s L \p{N}]+[\r\n]*|<whitespace tail>
   where L is \p{L} or [\p{L}\p{M}] and the tail is cl100k's or (FAM_NL_FIRST) the original one. */
static inline int64_t run_bits_ascii_letters(const uint8_t *tab, const uint8_t *b, int64_t j, int64_t end,
                                             int bits) {
    if (bits == LETTER) return run_letters(tab, b, j, end);
    while (j + 8 <= end) { /* ASCII has no marks: the same eight-byte letter scan */
        uint64_t stop = ~m_letters(load8u(b + j)) & HIGH;
        if (stop) {
            j += __builtin_ctzll(stop) >> 3;
            if (b[j] < 0x80) return j;
            break;
        }
        j += 8;
    }
    return run_any(tab, b, j, end, bits);
}

/* [^\s L \p{N}]+ where stop = the classes that end the run */
static inline int64_t run_punct_bits(const uint8_t *tab, const uint8_t *b, int64_t j, int64_t end, int stop_bits) {
    if (stop_bits == LNS) return run_punct(tab, b, j, end);
    while (j + 8 <= end) {
        uint64_t w = load8u(b + j);
        uint64_t stop = (m_letters(w) | m_digits(w) | m_spaces(w) | w) & HIGH;
        if (stop) {
            j += __builtin_ctzll(stop) >> 3;
            if (b[j] < 0x80) return j;
            break;
        }
        j += 8;
    }
    return run_none(tab, b, j, end, stop_bits);
}

static int64_t next_cl100k_family(const uint8_t *tab, const uint8_t *b, int64_t i, int64_t end, int params) {
    int w, w2;
    uint32_t c;
    if (b[i] < 0x80) { c = b[i]; w = 1; } else c = cp_at(b, i, &w);
    int k = tab[c];
    int64_t j = i + w;
    int letters = (params & FAM_MARKS) ? (LETTER | MARK) : LETTER;
    int stop_bits = LNS | (letters & MARK);
    if (k & letters) return run_bits_ascii_letters(tab, b, j, end, letters);
    if (c == 39) {
        int64_t r = contraction(b, j, end, !(params & FAM_CASED));
        if (r >= 0) return r;
    }
    if (!(k & NUMBER) && c != 10 && c != 13 && j < end) {
        if (cls_at(tab, b, j, &w2) & letters) return run_bits_ascii_letters(tab, b, j + w2, end, letters);
    }
    if (k & NUMBER) return FAM_DIGITS(params) ? digits(tab, b, j, end, 1, FAM_DIGITS(params))
                                              : run_any(tab, b, j, end, NUMBER);
    if (c == 32 && j < end) {
        if (!(cls_at(tab, b, j, &w2) & stop_bits))
            return run_newlines(b, run_punct_bits(tab, b, j + w2, end, stop_bits), end, 0);
    }
    if (!(k & stop_bits)) return run_newlines(b, run_punct_bits(tab, b, j, end, stop_bits), end, 0);
    int64_t last_nl, prev;
    int64_t p = space_run(tab, b, i, end, &last_nl, &prev);
    if (params & FAM_NL_FIRST) {
        if (last_nl >= 0) return last_nl;
        if (p == end || prev == i) return p;
        return prev;
    }
    if (p == end) return p;
    if (last_nl >= 0) return last_nl;
    if (prev > i) return prev;
    return p;
}

/* DeepSeek V3/V4's Sequence of isolated Splits: \p{N}{1,3} (the split_digits=3 chunks), then runs of
   [\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff], then in the segments between them
   [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*
   |\s*[\r\n]+|\s+(?!\S)|\s+ with the text no alternative matches kept as pieces of its own. */
static inline int is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x3040 && c <= 0x30FF);
}

/* class bits of the code point at i, with CJK (a segment boundary) as no class at all; *cjk set for it */
static inline int ds_class(const uint8_t *tab, const uint8_t *b, int64_t i, int *w, int *cjk) {
    uint32_t c = b[i] < 0x80 ? (*w = 1, b[i]) : cp_at(b, i, w);
    *cjk = is_cjk(c);
    return *cjk ? 0 : tab[c];
}

/* [\p{L}\p{M}]+ up to a CJK code point */
static inline int64_t ds_letters(const uint8_t *tab, const uint8_t *b, int64_t j, int64_t end) {
    while (j + 8 <= end) {
        uint64_t stop = ~m_letters(load8u(b + j)) & HIGH;
        if (stop) {
            j += __builtin_ctzll(stop) >> 3;
            if (b[j] < 0x80) return j;
            break;
        }
        j += 8;
    }
    while (j < end) {
        int w, cjk;
        if (!(ds_class(tab, b, j, &w, &cjk) & (LETTER | MARK))) return j;
        j += w;
    }
    return j;
}

/* [\p{P}\p{S}]+ up to a CJK code point (the Kana block holds a few) */
static inline int64_t ds_punsym(const uint8_t *tab, const uint8_t *b, int64_t j, int64_t end) {
    while (j < end) {
        int w, cjk;
        if (!(ds_class(tab, b, j, &w, &cjk) & PUNSYM)) return j;
        j += w;
    }
    return j;
}

/* does an alternative match at j (j < end, not CJK, class k, code point c)? */
static inline int ds_matches(const uint8_t *tab, const uint8_t *b, int64_t j, int64_t end, uint32_t c, int k, int w) {
    if (k & (LETTER | MARK | PUNSYM | SPACE)) return 1;
    if (c == 10 || c == 13 || j + w >= end) return 0;
    int w2, cjk;
    return (ds_class(tab, b, j + w, &w2, &cjk) & (LETTER | MARK)) != 0;
}

static int64_t next_deepseek(const uint8_t *tab, const uint8_t *b, int64_t i, int64_t end) {
    int w, w2, cjk;
    uint32_t c = b[i] < 0x80 ? (w = 1, b[i]) : cp_at(b, i, &w);
    int64_t j = i + w;
    if (is_cjk(c)) {
        while (j < end) {
            uint32_t d = b[j] < 0x80 ? (w2 = 1, b[j]) : cp_at(b, j, &w2);
            if (!is_cjk(d)) break;
            j += w2;
        }
        return j;
    }
    int k = tab[c];
    if (c < 0x80 && (k & PUNSYM) && j < end && ((b[j] | 0x20) >= 'a' && (b[j] | 0x20) <= 'z')) {
        int64_t q = j + 1;
        while (q < end && (b[q] | 0x20) >= 'a' && (b[q] | 0x20) <= 'z') q++;
        return q;
    }
    if (k & (LETTER | MARK)) return ds_letters(tab, b, j, end);
    if (c != 10 && c != 13 && !(k & PUNSYM) && j < end) {
        if (ds_class(tab, b, j, &w2, &cjk) & (LETTER | MARK)) return ds_letters(tab, b, j + w2, end);
    }
    if (c == 32 && j < end && (ds_class(tab, b, j, &w2, &cjk) & PUNSYM))
        return run_newlines(b, ds_punsym(tab, b, j + w2, end), end, 0);
    if (k & PUNSYM) return run_newlines(b, ds_punsym(tab, b, j, end), end, 0);
    if (k & SPACE) {
        int64_t last_nl, prev;
        int64_t p = space_run(tab, b, i, end, &last_nl, &prev);
        if (last_nl >= 0) return last_nl;
        if (p == end || prev == i) return p;
        int w3;
        ds_class(tab, b, p, &w3, &cjk);
        return cjk ? p : prev; /* the segment ends where a CJK run starts: (?!\S) holds there */
    }
    /* no alternative matches here: the unmatched text up to the next match or segment end is one piece */
    while (j < end) {
        uint32_t d = b[j] < 0x80 ? (w2 = 1, b[j]) : cp_at(b, j, &w2);
        if (is_cjk(d) || ds_matches(tab, b, j, end, d, tab[d], w2)) break;
        j += w2;
    }
    return j;
}

static inline int64_t next_piece(const uint8_t *tab, const uint8_t *b, int64_t i, int64_t end, int pattern) {
    switch (pattern & 0xFF) {
    case P_CL100K: return next_cl100k(tab, b, i, end);
    case P_CL100K_FAMILY: return next_cl100k_family(tab, b, i, end, pattern >> 8);
    case P_DEEPSEEK: return next_deepseek(tab, b, i, end);
    case P_O200K: return next_o200k(tab, b, i, end, 1, 3);
    case P_TEKKEN: return next_o200k(tab, b, i, end, 0, 1);
    case P_GPT2: return next_gpt2(tab, b, i, end);
    case P_WHITESPACE: {
        int w;
        if (cls_at(tab, b, i, &w) & SPACE) return run_any(tab, b, i + w, end, SPACE);
        return run_none(tab, b, i + w, end, SPACE);
    }
    default: return end;
    }
}

/* with split_digits, runs of at most that many digits are chunks of their own */
static inline int64_t chunk_end(const uint8_t *tab, const uint8_t *b, int64_t i, int64_t end, int split_digits) {
    if (split_digits <= 0) return end;
    int w;
    if (cls_at(tab, b, i, &w) & NUMBER) return digits(tab, b, i + w, end, 1, split_digits);
    return run_none(tab, b, i + w, end, NUMBER);
}

/* ------------------------------------------------------------------ cl100k on 64-byte ASCII blocks
   The regex decides piece starts sequentially, but on ASCII text each start follows from a few neighbouring
   classes, so a whole block's starts come from shifts and ands of class masks (bit t = byte t), with no branch
   per piece. The rules, for a block that begins at a piece start:
     letter  after a letter: no; after a non-newline space or a starting punctuation char (it joins the letters:
             "[^\r\n\p{L}\p{N}]?\p{L}+"): no; otherwise yes.
     punct   after punct or ' ' (" ?[^\s\p{L}\p{N}]+"): no; otherwise yes.
     digit   at each run start and every third digit after it ("\p{N}{1,3}").
     newline right after punctuation (and the newlines after it): no, they end that piece ("[\r\n]*").
     space   a run's first char; after the run's last newline (if spaces follow it up to a non-space); a run's
             last char when the one before is a non-newline space too ("\s+(?!\S)" gives it back).
     'x      an apostrophe that starts a piece and is followed by s d m t ll ve re (any case) is its own piece,
             so a letter right after that contraction starts one.
   tests/test_native_kernel.py fuzzes these against the state machine and tiktoken. */
typedef struct { uint64_t L, D, NL, SP, SO, P, HI, UP, CONT; } AsciiMasks;

static inline void ascii_masks(const uint8_t *p, AsciiMasks *k) {
#if defined(__AVX512BW__)
    /* one 64-byte register: each class is one or two unsigned range compares straight into a 64-bit mask */
    __m512i x = _mm512_loadu_si512((const void *)p);
    __m512i f = _mm512_or_si512(x, _mm512_set1_epi8(0x20));
    k->L = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(f, _mm512_set1_epi8('a')), _mm512_set1_epi8(26));
    k->UP = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8('A')), _mm512_set1_epi8(26));
    k->D = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8('0')), _mm512_set1_epi8(10));
    k->NL = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(10)) | _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(13));
    k->SO = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8(9)), _mm512_set1_epi8(5)) & ~k->NL;
    k->SP = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(32));
    k->HI = _mm512_movepi8_mask(x);
#elif defined(__SSE2__)
    uint64_t L = 0, D = 0, NL = 0, SP = 0, SO = 0, HI = 0, UP = 0;
    for (int q = 0; q < 4; q++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(p + 16 * q));
        __m128i lo = _mm_or_si128(x, _mm_set1_epi8(0x20));
        __m128i l = _mm_and_si128(_mm_cmpgt_epi8(lo, _mm_set1_epi8(0x60)), _mm_cmplt_epi8(lo, _mm_set1_epi8(0x7B)));
        __m128i d = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(0x2F)), _mm_cmplt_epi8(x, _mm_set1_epi8(0x3A)));
        __m128i nl = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(10)), _mm_cmpeq_epi8(x, _mm_set1_epi8(13)));
        __m128i ws = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(8)), _mm_cmplt_epi8(x, _mm_set1_epi8(14)));
        __m128i sp = _mm_cmpeq_epi8(x, _mm_set1_epi8(32));
        int sh = 16 * q;
        L |= (uint64_t)(uint16_t)_mm_movemask_epi8(l) << sh;
        D |= (uint64_t)(uint16_t)_mm_movemask_epi8(d) << sh;
        NL |= (uint64_t)(uint16_t)_mm_movemask_epi8(nl) << sh;
        SO |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_andnot_si128(nl, ws)) << sh;
        SP |= (uint64_t)(uint16_t)_mm_movemask_epi8(sp) << sh;
        HI |= (uint64_t)(uint16_t)_mm_movemask_epi8(x) << sh;
        UP |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_and_si128(l, _mm_cmplt_epi8(x, _mm_set1_epi8(0x5B)))) << sh;
    }
    k->L = L; k->D = D; k->NL = NL; k->SP = SP; k->SO = SO; k->HI = HI; k->UP = UP;
#else
    k->L = k->D = k->NL = k->SP = k->SO = k->HI = k->UP = 0;
    for (int t = 0; t < 64; t++) {
        uint8_t c = p[t], f = c | 0x20;
        uint64_t bit = 1ull << t;
        if (c >= 0x80) k->HI |= bit;
        else if (f >= 'a' && f <= 'z') { k->L |= bit; if (c < 'a') k->UP |= bit; }
        else if (c >= '0' && c <= '9') k->D |= bit;
        else if (c == 10 || c == 13) k->NL |= bit;
        else if (c == 32) k->SP |= bit;
        else if (c >= 9 && c <= 13) k->SO |= bit;
    }
#endif
    k->P = ~(k->L | k->D | k->NL | k->SP | k->SO | k->HI);
    k->CONT = 0;
}

/* mask of bytes equal to c, or to c and its upper case when c is a lower-case letter */
static inline uint64_t byte_mask(const uint8_t *p, uint8_t c) {
#if defined(__AVX512BW__)
    __m512i x = _mm512_or_si512(_mm512_loadu_si512((const void *)p), _mm512_set1_epi8(c >= 'a' ? 0x20 : 0));
    return _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8((char)c));
#elif defined(__SSE2__)
    uint64_t r = 0;
    __m128i fold = _mm_set1_epi8(c >= 'a' ? 0x20 : 0), want = _mm_set1_epi8((char)c);
    for (int q = 0; q < 4; q++) {
        __m128i x = _mm_or_si128(_mm_loadu_si128((const __m128i *)(p + 16 * q)), fold);
        r |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, want)) << (16 * q);
    }
    return r;
#else
    uint64_t r = 0;
    for (int t = 0; t < 64; t++) r |= (uint64_t)((p[t] | (c >= 'a' ? 0x20 : 0)) == c) << t;
    return r;
#endif
}

/* Folds a block's non-ASCII chars into its masks: each char's class on all of its bytes (so "previous byte"
   is the previous char's class), continuation bytes in CONT. Returns 0 where the masks cannot decide the
   block: non-ASCII spaces or digits, an apostrophe before a non-ASCII char ((?i) folds U+017F into 's'),
   and for o200k a mark right after punctuation (the punctuation run takes it) or a block with both
   upper-case letters and letters of both cases. Reads up to p[66]. */
static int wide_masks(const uint8_t *tab, const uint8_t *p, AsciiMasks *k, int o200k) {
    uint64_t cont = 0;
#if defined(__AVX512BW__)
    cont = _mm512_cmplt_epi8_mask(_mm512_loadu_si512((const void *)p), _mm512_set1_epi8((char)0xC0));
#elif defined(__SSE2__)
    for (int q = 0; q < 4; q++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(p + 16 * q));
        cont |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmplt_epi8(x, _mm_set1_epi8((char)0xC0))) << (16 * q);
    }
#else
    for (int t = 0; t < 64; t++) cont |= (uint64_t)((p[t] & 0xC0) == 0x80) << t;
#endif
    if (((byte_mask(p, 39) << 1) & k->HI)) return 0;
    uint64_t leads = k->HI & ~cont, marks = 0;
    int both = 0;
    while (leads) {
        int t = __builtin_ctzll(leads), w;
        leads &= leads - 1;
        uint8_t cl = tab[cp_at(p, t, &w)];
        uint64_t span = (uint64_t)(w == 2 ? 3 : w == 3 ? 7 : 15) << t;
        if (cl & (NUMBER | SPACE)) return 0;
        if (o200k) {
            if (cl & (UPPERISH | LOWERISH)) {
                k->L |= span;
                if (!(cl & LOWERISH)) k->UP |= span;
                else if (cl & UPPERISH) both = 1;
                if (!(cl & LETTER)) marks |= 1ull << t;
            }
        } else if (cl & LETTER) {
            k->L |= span;
        }
    }
    k->CONT = cont;
    k->P = ~(k->L | k->D | k->NL | k->SP | k->SO);
    if (marks & (k->P << 1)) return 0;
    /* a char of both cases (Lm, Lo, M) can go to either part of "[Lu]*[Ll]+", so next to an upper-case one the
       split point needs the regex's backtracking: the state machine decides */
    if (both && k->UP) return 0;
    return 1;
}

/* a starting punctuation char's bit carried over its continuation bytes, so the next char sees it */
static inline uint64_t whole_chars(uint64_t m, uint64_t cont) {
    if (!cont) return m;
    return m | ((m << 1) & cont) | ((m << 2) & cont & (cont << 1)) | ((m << 3) & cont & (cont << 1) & (cont << 2));
}

#define BLOCK_MARGIN 56  /* starts at bits >= this are left to the next block (they may need bytes past 63) */

/* the apostrophes of apos followed by a contraction: s d m t (*c1) or ll ve re (*c2), any case */
static inline void contractions(const uint8_t *p, uint64_t apos, uint64_t *c1, uint64_t *c2) {
    uint64_t sdmt = byte_mask(p, 's') | byte_mask(p, 'd') | byte_mask(p, 'm') | byte_mask(p, 't');
    uint64_t l = byte_mask(p, 'l'), e = byte_mask(p, 'e');
    *c1 = apos & (sdmt >> 1);
    *c2 = apos & ~*c1 & (((l >> 1) & (l >> 2)) | (((byte_mask(p, 'v') | byte_mask(p, 'r')) >> 1) & (e >> 2)));
}

/* the chars of T reached from a newline right after punctuation ("[\r\n]*" / "[\r\n/]*" after a punctuation run);
   a run may hold several such newlines (after its own '/' chars), so the fill goes by doubling steps */
static inline uint64_t punct_tails(uint64_t NL, uint64_t P, uint64_t T) {
    uint64_t tails = NL & (P << 1), reach = T;
    for (int step = 1; step < 64; step <<= 1) {
        tails |= (tails << step) & reach;
        reach &= reach << step;
    }
    return tails;
}

/* digit starts: each run's first digit, then every group-th digit of a run ("\p{N}{1,group}"; 0: "\p{N}+") */
static inline uint64_t digit_starts(uint64_t D, int group) {
    uint64_t g = D & ~(D << 1), starts = g;
    if (group == 1) return D;
    if (group > 1) {
        uint64_t run = D;
        for (int t = 1; t <= group; t++) run &= D << t;
        while ((g = (g << group) & run)) starts |= g;
    }
    return starts;
}

/* whitespace starts in the runs of wp (S: non-newline spaces): a run's first char; its last when the one before
   is a non-newline space too ("\s+(?!\S)" gives it back); a space right after the run's last newline */
static inline uint64_t space_starts(uint64_t S, uint64_t NL, uint64_t wp) {
    uint64_t starts = wp & ~(wp << 1);
    starts |= wp & ~(wp >> 1) & S & (S << 1) & ~(1ull << 63);
    uint64_t cand = S & ((NL & wp) << 1);                       /* spaces right after a newline */
    if (cand) {
        /* the last one's run may go on past the block: left out, and no start follows it in this block, so
           the next block begins before it and decides it */
        if ((((S + cand) ^ S) & S) >> 63) cand &= ~(1ull << (63 - __builtin_clzll(cand)));
        uint64_t bad = (S + cand) & ~S & NL;                     /* followed by another newline: not a start */
        while (bad) {
            uint64_t below = cand & ((bad & -bad) - 1);
            if (below) cand &= ~(1ull << (63 - __builtin_clzll(below)));
            bad &= bad - 1;
        }
        starts |= cand;
    }
    return starts;
}

/* cl100k piece starts in p[0..64) (pure ASCII, p[0] starts a piece); those below BLOCK_MARGIN are final */
static inline uint64_t cl100k_starts(const uint8_t *p, const AsciiMasks *k, int digit_group) {
    const uint64_t L = k->L, NL = k->NL, SP = k->SP, P = k->P;
    const uint64_t S = SP | k->SO;
    uint64_t pstart = P & ~((P | SP) << 1);
    uint64_t starts = pstart | (L & ~((L | S | whole_chars(pstart, k->CONT)) << 1)) | digit_starts(k->D, digit_group);
    starts |= space_starts(S, NL, (S | NL) & ~punct_tails(NL, P, NL));
    uint64_t apos = pstart & byte_mask(p, 39);
    if (apos) {
        uint64_t c1, c2;
        contractions(p, apos, &c1, &c2);
        starts |= ((c1 << 2) | (c2 << 3)) & L;
    }
    return (starts & ~k->CONT) | 1;
}

/* o200k on an ASCII block: as cl100k_starts, except that a letter run also splits before an upper-case letter
   that follows a lower-case one ("[Lu]*[Ll]+|[Lu]+[Ll]*"), an apostrophe contraction right after letters
   joins them ("(?i:'s|'t|'re|'ve|'m|'ll|'d)?", and the next letter starts a piece), and punctuation also
   takes the '/' chars among its trailing newlines ("[\r\n/]*"). Returns 0 (decide this block piece by piece)
   where a contraction follows another one. */
static inline uint64_t o200k_starts(const uint8_t *p, const AsciiMasks *k) {
    const uint64_t L = k->L, NL = k->NL, SP = k->SP, P = k->P, UP = k->UP;
    const uint64_t S = SP | k->SO, LW = L & ~UP;
    uint64_t apos = byte_mask(p, 39) & (L << 1);
    uint64_t cin = 0, after = 0, csuf = 0;
    if (apos) {
        uint64_t c1, c2;
        contractions(p, apos, &c1, &c2);
        cin = (c1 << 1) | (c2 << 1) | (c2 << 2);
        if ((c1 | c2) & (cin << 1)) return 0;
        csuf = c1 | c2 | cin;
        after = ((c1 << 2) | (c2 << 3)) & L;
    }
    uint64_t T = NL | byte_mask(p, '/');
    uint64_t absorbed = punct_tails(NL, P, T);
    uint64_t pstart = ((P & ~((P | SP) << 1)) | (P & ~T & (absorbed << 1))) & ~csuf & ~absorbed;
    uint64_t starts = pstart | digit_starts(k->D, 3);
    starts |= ((L & ~((L | S | whole_chars(pstart, k->CONT)) << 1)) | (UP & (LW << 1)) | after) & ~cin;
    starts |= space_starts(S, NL, (S | NL) & ~absorbed);
    return (starts & ~k->CONT) | 1;
}

/* The last < 64 bytes of a text [i, ce) (a line, a short document) as one block padded with newlines: a text's
   piece that ends before ce ends there whatever follows ce, as long as the next char is not \S (the only
   assertion in these patterns is "(?!\S)", true at the end of a text and before a newline alike), so the padded
   block's starts below ce are the text's. Its last piece runs on into the padding; it ends at ce too unless it
   holds whitespace ("\s*[\r\n]+" over "\r " stops at the "\r" when nothing follows), which the caller then
   finishes with the state machine from the last end written. Writes at most ce - i ends and returns how many;
   0 when the block is not pure ASCII, the masks cannot decide it, or it is one piece holding whitespace (the
   caller goes piece by piece). Most lines of a corpus are shorter than 64 bytes: each went piece by piece. */
static inline int64_t tail_block(const uint8_t *b, int64_t i, int64_t ce, int64_t bend, int kind, int group,
                                 int64_t *ends) {
    int64_t len = ce - i;
    uint64_t in = (1ull << len) - 1;
    uint8_t pad[64];
    const uint8_t *p = pad;
    AsciiMasks k;
    if (bend - i >= 64 && (b[ce] == '\n' || b[ce] == '\r')) {
        /* a line of a larger buffer, a newline after it: its block read in place, the masks past ce made
           newlines (the bytes there are read only as an apostrophe's next ones, and the first is a newline) */
        p = b + i;
        ascii_masks(p, &k);
        if (k.HI & in) return 0;
        k.L &= in; k.UP &= in; k.D &= in; k.SP &= in; k.SO &= in; k.HI = 0;
        k.NL = (k.NL & in) | ~in;
        k.P = ~(k.L | k.D | k.NL | k.SP | k.SO);
    } else {
        memcpy(pad, b + i, (size_t)len);
        memset(pad + len, '\n', (size_t)(64 - len));
        ascii_masks(pad, &k);
        if (k.HI) return 0;
    }
    uint64_t st = kind == P_CL100K ? cl100k_starts(p, &k, group) : o200k_starts(p, &k);
    if (!st) return 0;
    st &= in;
    int last = 63 - __builtin_clzll(st);   /* bit 0 is always set: the block starts a piece */
    int64_t n = 0;
    for (uint64_t rest = st & ~1ull; rest; rest &= rest - 1) ends[n++] = i + __builtin_ctzll(rest);
    if (!((k.SP | k.SO | k.NL) & in & (~0ull << last))) ends[n++] = ce;  /* the last piece ends at ce */
    else if (n == 0) return 0;  /* the whole tail is that piece: the state machine from i */
    return n;
}

/* phase A: piece ends from i (a piece start) on, at most max of them, within [i, ce); returns how many.
   b[0:bend) may be read (bend >= ce). */
static inline int fill_ends(const Model *m, const uint8_t *b, int64_t i, int64_t ce, int64_t bend, int64_t *ends,
                            int max) {
    const uint8_t *tab = m->cls;
    int np = 0;
    int pat = m->pattern, backoff = 0, group = 3, kind = pat;
    /* the cl100k family (Llama-3, Qwen, ...) on the cl100k rules with its digit groups; not its [\p{L}\p{M}]
       letters or case-sensitive contractions */
    if ((pat & 0xFF) == P_CL100K_FAMILY && !((pat >> 8) & (FAM_MARKS | FAM_CASED))) {
        group = FAM_DIGITS(pat >> 8);
        kind = P_CL100K;
    }
    if ((kind == P_CL100K || kind == P_O200K) && m->ascii_blocks) {
        while (np < max && i < ce) {
            if (max - np < BLOCK_MARGIN && np > 0) break; /* a full block may not fit: end the batch here */
            if (ce - i >= 64) {
                AsciiMasks k;
                ascii_masks(b + i, &k);
                uint64_t st = 0;
                int64_t stop = i + 64;   /* where the state machine hands back when the block is not decided */
                if (!k.HI || (backoff == 0 && ce - i >= 72 && wide_masks(tab, b + i, &k, kind == P_O200K))) {
                    st = kind == P_CL100K ? cl100k_starts(b + i, &k, group) : o200k_starts(b + i, &k);
                } else {
                    /* after a block the masks could not decide, the next few go straight to the state machine */
                    backoff = backoff ? backoff - 1 : 3;
                    stop = i + 64 - __builtin_clzll(k.HI); /* past the block's last non-ASCII byte */
                }
                if (st) {
                    st &= ~1ull & ((1ull << BLOCK_MARGIN) - 1);
                    if (st) {
                        int64_t last = 0;
                        while (st) {
                            last = __builtin_ctzll(st);
                            ends[np++] = i + last;
                            st &= st - 1;
                        }
                        i += last;
                        continue;
                    }
                } else {
                    while (i < stop && np < max) { i = next_piece(tab, b, i, ce, pat); ends[np++] = i; }
                    continue;
                }
            } else if (max - np > ce - i) {
                int64_t got = tail_block(b, i, ce, bend, kind, group, ends + np);
                if (got) {
                    np += (int)got;
                    i = ends[np - 1];
                    while (i < ce && np < max) { i = next_piece(tab, b, i, ce, pat); ends[np++] = i; }
                    continue;
                }
            } else if (np > 0) {
                break;  /* the tail's pieces may not fit: end the batch here */
            }
            i = next_piece(tab, b, i, ce, pat);
            ends[np++] = i;
        }
        return np;
    }
    do { i = next_piece(tab, b, i, ce, pat); ends[np++] = i; } while (np < max && i < ce);
    return np;
}

/* ------------------------------------------------------------------ hashing */
static inline uint64_t load_le(const uint8_t *p, int64_t n) { /* n <= 8 bytes, little-endian packed */
    uint64_t k = 0;
    switch (n) {
    case 8: k |= (uint64_t)p[7] << 56; /* fall through */
    case 7: k |= (uint64_t)p[6] << 48; /* fall through */
    case 6: k |= (uint64_t)p[5] << 40; /* fall through */
    case 5: k |= (uint64_t)p[4] << 32; /* fall through */
    case 4: k |= (uint64_t)p[3] << 24; /* fall through */
    case 3: k |= (uint64_t)p[2] << 16; /* fall through */
    case 2: k |= (uint64_t)p[1] << 8; /* fall through */
    case 1: k |= (uint64_t)p[0]; /* fall through */
    default: break;
    }
    return k;
}

static inline uint64_t load8(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

/* hash of any byte string (never 0) */
static inline uint64_t hash_bytes(const uint8_t *p, int64_t n) {
    uint64_t h = (uint64_t)n * GOLDEN;
    int64_t t = 0;
    for (; t + 8 <= n; t += 8) {
        uint64_t w;
        memcpy(&w, p + t, 8);
        h = (h ^ w) * GOLDEN;
        h ^= h >> 29;
    }
    if (t < n) h = (h ^ load_le(p + t, n - t)) * GOLDEN;
    h = mix64(h);
    return h ? h : 1;
}

/* vocabulary key: packed bytes for <= 7 bytes (exact), else a hash with the top bit set (verified) */
static inline uint64_t vkey(const uint8_t *p, int64_t n) {
    if (n <= 7) return ((uint64_t)n << 56) | load_le(p, n);
    return hash_bytes(p, n) | (1ull << 63);
}

/* the entry for key = vkey(p, n) */
static inline const VEntry *vt_find(const Model *m, uint64_t key, const uint8_t *p, int64_t n) {
    uint64_t slot = (key * GOLDEN) >> m->vshift;
    for (;;) {
        const VEntry *e = &m->vt[slot];
        if (e->key == key) {
            if (n <= 7) return e;
            uint64_t a = m->off[e->id];
            if ((int64_t)(m->off[e->id + 1] - a) == n && memcmp(m->blob + a, p, n) == 0) return e;
        } else if (e->key == 0) {
            return NULL;
        }
        slot = (slot + 1) & m->vmask;
    }
}

static inline const VEntry *vt_get(const Model *m, const uint8_t *p, int64_t n) {
    return vt_find(m, vkey(p, n), p, n);
}

static inline int vt_maybe(const Model *m, uint64_t key) {
    uint64_t h = (key * 0xD6E8FEB86659FD93ull) >> m->vbshift;
    return (m->vbits[h >> 6] >> (h & 63)) & 1;
}

/* vt_get for byte strings that are mostly not tokens: the filter first */
static inline const VEntry *vt_get_rare(const Model *m, const uint8_t *p, int64_t n) {
    uint64_t key = vkey(p, n);
    return vt_maybe(m, key) ? vt_find(m, key, p, n) : NULL;
}

/* vkey of p[0:n) where 8 bytes past every byte of p can be read (a zero-padded copy): masked 8-byte loads
   instead of a jump on n per byte string */
static inline uint64_t vkey_padded(const uint8_t *p, int64_t n) {
    if (n <= 7) return ((uint64_t)n << 56) | (load8(p) & (~0ull >> (64 - 8 * n)));
    uint64_t h = (uint64_t)n * GOLDEN;
    int64_t t = 0;
    for (; t + 8 <= n; t += 8) {
        h = (h ^ load8(p + t)) * GOLDEN;
        h ^= h >> 29;
    }
    if (t < n) h = (h ^ (load8(p + t) & (~0ull >> (64 - 8 * (n - t))))) * GOLDEN;
    h = mix64(h);
    return (h ? h : 1) | (1ull << 63);
}

static inline const PEntry *pt_get(const Model *m, uint32_t left, uint32_t right) {
    uint64_t key = ((uint64_t)left << 32) | right, mk = mix64(key);
    uint64_t h = (mk * 0xD6E8FEB86659FD93ull) >> m->pbshift;
    if (!((m->pbits[h >> 6] >> (h & 63)) & 1)) return NULL;
    uint64_t slot = (mk * GOLDEN) >> m->pshift;
    for (;;) {
        const PEntry *e = &m->pt[slot];
        if (e->key == key) return e;
        if (e->key == UINT64_MAX) return NULL;
        slot = (slot + 1) & m->pmask;
    }
}

/* (rank << 32) | merged id for joining b[a:c) split at the parts with ids left, right */
static inline uint64_t merge_value(const Model *m, const uint8_t *b, int64_t a, int64_t c, uint32_t left,
                                   uint32_t right) {
    if (m->any_split) {
        if (c - a > m->max_len) return (uint64_t)NO_RANK << 32;
        const VEntry *e = vt_get_rare(m, b + a, c - a);
        if (e && e->rank != NO_RANK) return ((uint64_t)e->rank << 32) | e->id;
    } else {
        const PEntry *e = pt_get(m, left, right);
        if (e) return ((uint64_t)e->rank << 32) | e->merged;
    }
    return (uint64_t)NO_RANK << 32;
}

/* the code point of the 2- or 3-byte UTF-8 character at p (w: its length, bytes already checked) */
static inline uint32_t bmp_cp(const uint8_t *p, int w) {
    return w == 2 ? ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F)
                  : ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
}

/* char_tok's token for the character at q (avail bytes of the piece from q), its length in *w; UINT32_MAX when
   the character does not start as a token (see build_char_tokens) */
static inline uint32_t char_token_at(const Model *m, const uint8_t *q, int64_t avail, int *w) {
    if (q[0] < 0xC2 || q[0] >= 0xF0) return UINT32_MAX;
    *w = q[0] < 0xE0 ? 2 : 3;
    if (avail < *w || (q[1] & 0xC0) != 0x80 || (*w == 3 && (q[2] & 0xC0) != 0x80)) return UINT32_MAX;
    return m->char_tok[bmp_cp(q, *w)];
}

/* merge_value for tiktoken-style ranks on a zero-padded copy of the piece */
static inline uint64_t join_value(const Model *m, const uint8_t *p, int64_t n) {
    if (n > m->max_len) return (uint64_t)NO_RANK << 32;
    uint64_t key = vkey_padded(p, n);
    const VEntry *e = vt_maybe(m, key) ? vt_find(m, key, p, n) : NULL;
    return e && e->rank != NO_RANK ? ((uint64_t)e->rank << 32) | e->id : (uint64_t)NO_RANK << 32;
}

/* ------------------------------------------------------------------ BPE merge */
static int64_t bpe_small(const Model *m, const uint8_t *b, int64_t s, int64_t e, uint32_t *out) {
    int64_t pos[SMALL + 1];
    uint32_t sym[SMALL];
    uint64_t val[SMALL];
    uint8_t pad[SMALL + 8]; /* the piece, zero-padded: keys come from whole 8-byte loads */
    int64_t n = e - s;
    const uint64_t none = (uint64_t)NO_RANK << 32;
    memcpy(pad, b + s, n);
    memset(pad + n, 0, 8);
    if (m->char_tok) {
        /* a character whose bytes always merge into one token before any of them merges with a neighbour
           starts as that token: the same merges after, fewer parts and lookups (see build_char_tokens) */
        int64_t np = 0;
        for (int64_t t = 0; t < n;) {
            const uint8_t *q = b + s + t;
            int w;
            uint32_t id = char_token_at(m, q, n - t, &w);
            if (id != UINT32_MAX) { sym[np] = id; pos[np++] = s + t; t += w; continue; }
            sym[np] = m->byte_ids[q[0]];
            pos[np++] = s + t;
            t++;
        }
        pos[np] = e;
        for (int64_t t = 0; t + 1 < np; t++) {
            int64_t a = pos[t], mid = pos[t + 1], c = pos[t + 2];
            val[t] = mid - a == 1 && c - mid == 1 ? m->pair2[(b[a] << 8) | b[mid]] : join_value(m, pad + a - s, c - a);
        }
        n = np;
    } else {
        for (int64_t t = 0; t < n; t++) { sym[t] = m->byte_ids[b[s + t]]; pos[t] = s + t; }
        pos[n] = e;
        for (int64_t t = 0; t + 1 < n; t++) val[t] = m->pair2[(b[s + t] << 8) | b[s + t + 1]];
    }
    while (n > 1) {
        uint64_t best = none;
        int64_t bi = -1;
        for (int64_t t = 0; t + 1 < n; t++) {
            if (val[t] < best) { best = val[t]; bi = t; }
        }
        if (bi < 0) break;
        sym[bi] = (uint32_t)(best & 0xFFFFFFFFu);
        /* shift the tails left by one in place: short moves, cheaper inline than a memmove call */
        for (int64_t t = bi + 1; t + 1 < n; t++) { sym[t] = sym[t + 1]; pos[t] = pos[t + 1]; val[t] = val[t + 1]; }
        pos[n - 1] = pos[n];
        n--;
        if (m->any_split) {
            if (bi > 0) val[bi - 1] = join_value(m, pad + pos[bi - 1] - s, pos[bi + 1] - pos[bi - 1]);
            if (bi < n - 1) val[bi] = join_value(m, pad + pos[bi] - s, pos[bi + 2] - pos[bi]);
        } else {
            if (bi > 0) val[bi - 1] = merge_value(m, b, pos[bi - 1], pos[bi + 1], sym[bi - 1], sym[bi]);
            if (bi < n - 1) val[bi] = merge_value(m, b, pos[bi], pos[bi + 2], sym[bi], sym[bi + 1]);
        }
    }
    memcpy(out, sym, n * sizeof(uint32_t));
    return n;
}

/* a 4-ary min-heap of keys: half the levels of a binary one, and a node's four children share a cache line
   (children of i at 4i+1..4i+4) */
static inline void heap_push(uint64_t *heap, int64_t *hn, uint64_t key) {
    int64_t i = (*hn)++;
    while (i > 0) {
        int64_t p = (i - 1) >> 2;
        if (heap[p] <= key) break;
        heap[i] = heap[p];
        i = p;
    }
    heap[i] = key;
}

static inline uint64_t heap_pop(uint64_t *heap, int64_t *hn) {
    uint64_t top = heap[0];
    int64_t n = --(*hn);
    uint64_t key = heap[n];
    int64_t i = 0;
    for (;;) {
        int64_t a = 4 * i + 1;
        if (a >= n) break;
        int64_t c = a;
        uint64_t cv = heap[a];
        int64_t last = a + 4 < n ? a + 4 : n;
        for (int64_t t = a + 1; t < last; t++) {
            uint64_t v = heap[t];
            c = v < cv ? t : c;
            cv = v < cv ? v : cv;
        }
        if (key <= cv) break;
        heap[i] = cv;
        i = c;
    }
    heap[i] = key;
    return top;
}

/* stable sort of (rank << 32 | position) keys by rank (LSD radix, 11 bits a pass): positions stay in order
   within a rank, so the result is sorted by the whole key */
static void sort_by_rank(uint64_t *keys, uint64_t *tmp, int64_t n, uint32_t max_rank) {
    int64_t count[2048];
    for (int shift = 32; shift < 64 && (max_rank >> (shift - 32)) != 0; shift += 11) {
        memset(count, 0, sizeof(count));
        for (int64_t t = 0; t < n; t++) count[(keys[t] >> shift) & 2047]++;
        int64_t sum = 0;
        for (int d = 0; d < 2048; d++) { int64_t c = count[d]; count[d] = sum; sum += c; }
        for (int64_t t = 0; t < n; t++) tmp[count[(keys[t] >> shift) & 2047]++] = keys[t];
        memcpy(keys, tmp, n * sizeof(uint64_t));
    }
}

/* same merges as bpe_small in O(n log n), for long pieces: the parts form a linked list; the first pairs (byte
   pairs, from pair2) are sorted once into a queue, and pairs made by merges go to a heap, so the heap holds only
   those; the smaller head of the two merges next. rank[i]/merged[i] hold the pair starting at part i now; a
   queued (rank, i) is stale when rank[i] has changed (a rank names one token, so equal ranks are the same
   merge). Returns -1 when memory runs out. */
static int64_t bpe_long(const Model *m, const uint8_t *b, int64_t s, int64_t e, uint32_t *out) {
    const uint32_t NONE = UINT32_MAX;
    int64_t n = e - s;
    uint32_t *sym = malloc(n * sizeof(uint32_t)), *nxt = malloc((n + 1) * sizeof(uint32_t));
    uint32_t *prv = malloc(n * sizeof(uint32_t)), *rank = malloc(n * sizeof(uint32_t));
    uint32_t *merged = malloc(n * sizeof(uint32_t));
    uint64_t *queue = malloc(n * sizeof(uint64_t)), *heap = malloc((2 * n + 1) * sizeof(uint64_t));
    int64_t result = -1;
    if (!sym || !nxt || !prv || !rank || !merged || !queue || !heap) goto done;
    int64_t nq = 0, hn = 0;
    uint32_t max_rank = 0;
    /* the parts: bytes, or whole characters where char_tok allows (as in bpe_small); parts start at t */
    uint32_t last = NONE;
    for (int64_t t = 0; t < n;) {
        int w = 1, cw;
        uint32_t id = m->char_tok ? char_token_at(m, b + s + t, n - t, &cw) : UINT32_MAX;
        if (id != UINT32_MAX) { sym[t] = id; w = cw; }
        else sym[t] = m->byte_ids[b[s + t]];
        prv[t] = last;
        if (last != NONE) nxt[last] = (uint32_t)t;
        last = (uint32_t)t;
        t += w;
    }
    nxt[last] = (uint32_t)n;
    nxt[n] = (uint32_t)n;
    for (uint32_t t = 0; t < n; t = nxt[t]) {
        uint32_t j = nxt[t];
        uint64_t v = (uint64_t)NO_RANK << 32;
        if (j < n) {
            uint32_t k = nxt[j];
            v = j - t == 1 && k - j == 1 ? m->pair2[(b[s + t] << 8) | b[s + j]] : merge_value(m, b, s + t, s + k, sym[t], sym[j]);
        }
        rank[t] = (uint32_t)(v >> 32);
        merged[t] = (uint32_t)v;
        if (rank[t] != NO_RANK) {
            queue[nq++] = ((uint64_t)rank[t] << 32) | (uint64_t)t;
            if (rank[t] > max_rank) max_rank = rank[t];
        }
    }
    sort_by_rank(queue, heap, nq, max_rank); /* the heap's memory is free until the first merge */
    int64_t qi = 0;
    for (;;) {
        uint64_t key;
        if (hn > 0 && (qi >= nq || heap[0] < queue[qi])) key = heap_pop(heap, &hn);
        else if (qi < nq) key = queue[qi++];
        else break;
        uint32_t r = (uint32_t)(key >> 32), i = (uint32_t)key;
        if (rank[i] != r || sym[i] == NONE) continue;
        uint32_t j = nxt[i], k = nxt[j];
        sym[i] = merged[i];
        sym[j] = NONE;
        nxt[i] = k;
        if (k < n) {
            prv[k] = i;
            uint64_t v = merge_value(m, b, s + i, s + nxt[k], sym[i], sym[k]);
            rank[i] = (uint32_t)(v >> 32);
            merged[i] = (uint32_t)v;
            if (rank[i] != NO_RANK) heap_push(heap, &hn, ((uint64_t)rank[i] << 32) | i);
        } else {
            rank[i] = NO_RANK;
        }
        uint32_t p = prv[i];
        if (p != NONE) {
            uint64_t v = merge_value(m, b, s + p, s + k, sym[p], sym[i]);
            rank[p] = (uint32_t)(v >> 32);
            merged[p] = (uint32_t)v;
            if (rank[p] != NO_RANK) heap_push(heap, &hn, ((uint64_t)rank[p] << 32) | p);
        }
    }
    result = 0;
    for (uint32_t i = 0; i < n; i = nxt[i]) out[result++] = sym[i];
done:
    free(sym); free(nxt); free(prv); free(rank); free(merged); free(queue); free(heap);
    return result;
}

/* ------------------------------------------------------------------ pieces and documents */
/* the piece's bytes as three zero-padded little-endian words (n <= CACHE_KEY); reads 8 bytes at a time
   where the buffer allows */
static inline void piece_words(const uint8_t *p, int64_t n, int64_t avail, uint64_t w[3]) {
    w[0] = w[1] = w[2] = 0;
    if (avail >= 24) {
        memcpy(w, p, 24);
        if (n < 24) {
            int64_t q = n >> 3, r = n & 7;
            w[q] &= r ? (~0ull >> (64 - 8 * r)) : 0;
            if (q < 1) w[1] = 0;
            if (q < 2) w[2] = 0;
        }
        return;
    }
    for (int64_t t = 0, q = 0; t < n; t += 8, q++) w[q] = load_le(p + t, n - t < 8 ? n - t : 8);
}

/* zeroed memory for the piece tables: mmap'd, 2 MB aligned and marked for transparent huge pages, since
   lookups land anywhere in tables of several MB and 4 KB pages would cost a TLB miss on most of them */
#define HUGE_PAGE ((size_t)2 << 20)
static void *table_alloc(size_t size) {
    size_t span = size + HUGE_PAGE;
    uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (p > raw) munmap(raw, p - raw);
    size_t tail = (raw + span) - (p + size);
    if (tail) munmap(p + size, tail);
#ifdef MADV_HUGEPAGE
    if (size >= HUGE_PAGE) madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

static void table_free(void *p, size_t size) {
    if (p) munmap(p, size);
}

static inline uint64_t big_hash(const uint64_t w[3], int64_t n) {
    uint64_t h = (w[0] * GOLDEN) ^ ((w[1] + (uint64_t)n) * 0xC2B2AE3D27D4EB4Full) ^ (w[2] * 0x165667B19E3779F9ull);
    h ^= h >> 31;
    h *= 0xD6E8FEB86659FD93ull;
    return h;
}

/* the slot holding the piece, else the empty slot where it belongs */
static inline CEntry *big_slot(const Cache *c, const uint64_t w[3], int64_t n, uint64_t h) {
    uint64_t slot = h >> c->bshift;
    for (;;) {
        CEntry *ce = &c->big[slot];
        if (ce->klen == 0 || (ce->klen == n && ce->k[0] == w[0] && ce->k[1] == w[1] && ce->k[2] == w[2])) return ce;
        slot = (slot + 1) & c->bmask;
    }
}

/* room for one more entry: double the table (rehash), or at its largest start it over; 0 when out of memory */
static int big_reserve(Cache *c) {
    uint64_t cap = c->bmask + 1;
    if ((uint64_t)(c->bcount + 1) * 4 <= cap * 3) return 1;
    if (cap >= (1ull << BIG_MAX_BITS)) {
        memset(c->big, 0, cap * sizeof(CEntry));
        c->bcount = 0;
        return 1;
    }
    /* four times the size while that stays within the largest: a growth costs fresh pages (the kernel zeroes
       them) and a rehash, so fewer, larger steps cost less in all */
    int grow = cap * 4 <= (1ull << BIG_MAX_BITS) ? 2 : 1;
    CEntry *old = c->big, *nb = table_alloc((cap << grow) * sizeof(CEntry));
    if (!nb) return 0;
    c->big = nb;
    c->bmask = (cap << grow) - 1;
    c->bshift -= grow;
    for (uint64_t t = 0; t < cap; t++) {
        if (!old[t].klen) continue;
        CEntry *dst = big_slot(c, old[t].k, old[t].klen, big_hash(old[t].k, old[t].klen));
        *dst = old[t];
    }
    table_free(old, cap * sizeof(CEntry));
    return 1;
}

/* put a piece of <= CACHE_IDS ids in the piece table (w: its bytes as piece_words gives them, h: big_hash);
   nothing when it is there already or memory runs out (a cache: the piece is merged again next time) */
static inline void big_put(Cache *c, const uint64_t w[3], int64_t n, uint64_t h, const uint32_t *ids, int64_t k) {
    if (!big_reserve(c)) return;
    CEntry *ce = big_slot(c, w, n, h);
    if (ce->klen) return;
    ce->k[0] = w[0]; ce->k[1] = w[1]; ce->k[2] = w[2];
    ce->klen = (uint8_t)n;
    ce->nids = (uint8_t)k;
    memcpy(ce->ids, ids, k * sizeof(uint32_t));
    c->bcount++;
}

static inline LEntry *long_slot(const Cache *c, const uint8_t *p, int64_t n, uint64_t h) {
    uint64_t mask = (1u << LONG_BITS) - 1, slot = (h * GOLDEN) >> (64 - LONG_BITS);
    for (;;) {
        LEntry *le = &c->lt[slot];
        if (!le->h || (le->h == h && le->len == n && memcmp(c->lbytes + le->boff, p, n) == 0)) return le;
        slot = (slot + 1) & mask;
    }
}

static void long_clear(Cache *c) {
    memset(c->lt, 0, sizeof(LEntry) << LONG_BITS);
    c->lcount = 0;
    c->lbsize = c->lisize = 0;
}

static int grow_to(void **buf, uint64_t *cap, uint64_t need, size_t unit) {
    if (need <= *cap) return 1;
    uint64_t nc = *cap ? *cap : 4096;
    while (nc < need) nc *= 2;
    void *p = realloc(*buf, nc * unit);
    if (!p) return 0;
    *buf = p;
    *cap = nc;
    return 1;
}

/* remember a long piece's ids (best effort: out of memory or a full arena only skips or resets the table) */
static void long_put(Cache *c, const uint8_t *p, int64_t n, uint64_t h, const uint32_t *ids, int64_t k) {
    if ((uint64_t)n > LONG_ARENA / 4) return;
    if (c->lcount + 1 > (1 << (LONG_BITS - 1)) || c->lbsize + n > LONG_ARENA) long_clear(c);
    if (!grow_to((void **)&c->lbytes, &c->lbcap, c->lbsize + n, 1)) return;
    if (!grow_to((void **)&c->lids, &c->licap, c->lisize + k, sizeof(uint32_t))) return;
    LEntry *le = long_slot(c, p, n, h);
    if (le->h) return;
    memcpy(c->lbytes + c->lbsize, p, n);
    memcpy(c->lids + c->lisize, ids, k * sizeof(uint32_t));
    le->h = h; le->len = (uint32_t)n; le->nids = (uint32_t)k; le->boff = c->lbsize; le->ioff = c->lisize;
    c->lbsize += n;
    c->lisize += k;
    c->lcount++;
}

/* ids of a piece the hot cache missed: whole token (ignore_merges), the piece tables, else BPE */
static inline int64_t encode_piece_slow(const Model *m, Cache *cache, const uint8_t *b, int64_t s, int64_t e,
                                        int64_t bend, int hot, uint32_t *out) {
    int64_t n = e - s;
    if (n == 1) { out[0] = m->byte_ids[b[s]]; return 1; }
    if (n <= CACHE_KEY) {
        uint64_t w[3];
        piece_words(b + s, n, bend - s, w);
        uint64_t h = big_hash(w, n);
        if (hot != HOT_EMPTY) { /* an empty hot slot means the piece is in no table (see encode_piece) */
            const CEntry *ce = big_slot(cache, w, n, h);
            if (ce->klen) {
                int k = ce->nids;
                for (int t = 0; t < k; t++) out[t] = ce->ids[t];
                if (k) return k;
                /* 0 ids: a piece of more ids than an entry holds (rare bytes, each its own token), kept in the
                   long-piece cache; the mark spares every other piece a probe there (a cache miss) */
                LEntry *le = long_slot(cache, b + s, n, hash_bytes(b + s, n));
                if (le->h) {
                    memcpy(out, cache->lids + le->ioff, le->nids * sizeof(uint32_t));
                    return le->nids;
                }
            }
        }
        const VEntry *v = NULL;
        if (m->ignore_merges && n <= m->max_len) { /* w is the piece zero-padded to 24 bytes */
            uint64_t key = vkey_padded((const uint8_t *)w, n);
            if (vt_maybe(m, key)) v = vt_find(m, key, b + s, n);
        }
        int64_t k;
        if (v) { out[0] = v->id; k = 1; }
        else {
            k = bpe_small(m, b, s, e, out);
            if (k > CACHE_IDS) {
                long_put(cache, b + s, n, hash_bytes(b + s, n), out, k);
                big_put(cache, w, n, h, out, 0);
                return k;
            }
        }
        if (k > 0 && k <= CACHE_IDS && !(hot != HOT_NONE && k <= HOT_IDS)) big_put(cache, w, n, h, out, k);
        return k;
    }
    uint64_t h = hash_bytes(b + s, n);
    if (m->ignore_merges && n <= m->max_len) {
        uint64_t key = h | (1ull << 63); /* vkey of a piece over 7 bytes: one hash serves both tables */
        const VEntry *v = vt_maybe(m, key) ? vt_find(m, key, b + s, n) : NULL;
        if (v) { out[0] = v->id; return 1; }
    }
    LEntry *le = long_slot(cache, b + s, n, h);
    if (le->h) {
        memcpy(out, cache->lids + le->ioff, le->nids * sizeof(uint32_t));
        return le->nids;
    }
    int64_t k = n <= SMALL ? bpe_small(m, b, s, e, out) : bpe_long(m, b, s, e, out);
    if (k > 0) long_put(cache, b + s, n, h, out, k);
    return k;
}

/* MASK_LO[n] keeps the first min(n, 8) bytes of a word, MASK_HI[n] the first n - 8 of the next one */
static const uint64_t MASK_LO[16] = {0, 0xFFull, 0xFFFFull, 0xFFFFFFull, 0xFFFFFFFFull, 0xFFFFFFFFFFull,
    0xFFFFFFFFFFFFull, 0xFFFFFFFFFFFFFFull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull};
static const uint64_t MASK_HI[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFFull, 0xFFFFull, 0xFFFFFFull, 0xFFFFFFFFull,
    0xFFFFFFFFFFull, 0xFFFFFFFFFFFFull, 0xFFFFFFFFFFFFFFull};

static inline uint64_t low_bytes(uint64_t w, int64_t n) { return n >= 8 ? w : (n <= 0 ? 0 : w & (~0ull >> (64 - 8 * n))); }

/* a short piece's hot-cache key and slot (slot NULL for pieces over 15 bytes) */
typedef struct { HEntry *he; uint64_t k0, k1; } HotKey;

static inline HotKey hot_key(Cache *cache, const uint8_t *b, int64_t s, int64_t e, int64_t bend) {
    HotKey hk = {NULL, 0, 0};
    int64_t n = e - s;
    if (n > 15) return hk;
    if (__builtin_expect(bend - s >= 16, 1)) { /* branch-free key: masks by length from a table */
        hk.k0 = load8(b + s) & MASK_LO[n];
        hk.k1 = load8(b + s + 8) & MASK_HI[n];
    } else {
        hk.k0 = load_le(b + s, n < 8 ? n : 8);
        hk.k1 = n > 8 ? load_le(b + s + 8, n - 8) : 0;
    }
    hk.k1 |= (uint64_t)n << 56;
    uint64_t h = (hk.k0 * GOLDEN) ^ (hk.k1 * 0xC2B2AE3D27D4EB4Full);
    h ^= h >> 29;
    h *= 0xD6E8FEB86659FD93ull;
    hk.he = &cache->hot[h >> (64 - HOT_BITS)];
    return hk;
}

/* remember a hot entry pushed out of its slot in the piece table, so its piece is not merged again */
static inline void hot_evict(Cache *cache, const HEntry *he) {
    uint64_t k1 = he->k1 & ~(7ull << HOT_NIDS_SHIFT);
    int64_t n = (int64_t)(k1 >> 56), k = (int64_t)(he->k1 >> HOT_NIDS_SHIFT);
    if (n < 1 || n > 15) return;
    uint64_t w[3] = {he->k0, k1 & ~(0xFFull << 56), 0};
    big_put(cache, w, n, big_hash(w, n), he->ids, k);
}

static inline int all_spaces(const uint8_t *p, int64_t n) {
    int64_t t = 0;
    for (; t + 8 <= n; t += 8)
        if (load8(p + t) != 0x2020202020202020ull) return 0;
    for (; t < n; t++)
        if (p[t] != ' ') return 0;
    return 1;
}

/* ids of the piece b[s:e) into out; returns how many, or -1 when memory runs out. bend: end of the buffer.
   A short piece of <= 4 ids lives in its hot slot only; the piece table gets it when another piece takes the
   slot, and holds short pieces of 5-9 ids (their empty slot is then marked taken). So a piece whose slot was
   never written is in no table: a cold pass skips the table probe (a cache miss per new piece). */
static inline __attribute__((always_inline)) int64_t encode_piece(const Model *m, Cache *cache, const uint8_t *b,
                                                                  int64_t s, int64_t e, int64_t bend, HotKey hk,
                                                                  uint32_t *out) {
    HEntry *he = hk.he;
    if (!he) {
        int64_t n = e - s;
        if (n <= SPACE_MAX && b[s] == ' ' && all_spaces(b + s, n)) {
            int k = cache->sp_n[n];
            if (k) {
                for (int t = 0; t < k; t++) out[t] = cache->sp_ids[n][t];
                return k;
            }
            int64_t got = encode_piece_slow(m, cache, b, s, e, bend, HOT_NONE, out);
            if (got > 0 && got <= HOT_IDS) {
                memcpy(cache->sp_ids[n], out, got * sizeof(uint32_t));
                cache->sp_n[n] = (uint8_t)got;
            }
            return got;
        }
        return encode_piece_slow(m, cache, b, s, e, bend, HOT_NONE, out);
    }
    if (he->k0 == hk.k0 && (he->k1 & ~(7ull << HOT_NIDS_SHIFT)) == hk.k1) { /* all four slots copied */
        memcpy(out, he->ids, sizeof(he->ids));
        return (int64_t)(he->k1 >> HOT_NIDS_SHIFT);
    }
    int empty = he->k1 == 0;
    int64_t k = encode_piece_slow(m, cache, b, s, e, bend, empty ? HOT_EMPTY : HOT_TAKEN, out);
    if (k > 0 && k <= HOT_IDS) {
        if (!empty && he->k1 != HOT_MARK) hot_evict(cache, he);
        he->k0 = hk.k0;
        he->k1 = hk.k1 | ((uint64_t)k << HOT_NIDS_SHIFT);
        memcpy(he->ids, out, k * sizeof(uint32_t));
    } else if (empty && k > HOT_IDS) {
        he->k1 = HOT_MARK;
    }
    return k;
}

/* Two phases per batch of up to PIECE_BATCH pieces: find the batch's piece ends (the pre-tokenizer alone, its
   branches not interleaved with cache work), then hash every piece and prefetch its hot-cache line, then probe
   and emit: the cache lines' latency overlaps across the whole batch instead of one piece ahead. */
#define PIECE_BATCH 128
#define PREFETCH_AHEAD 32  /* hot-cache lines requested this many pieces before their probe (8: -4% on code) */

/* ids of one UTF-8 text into out (capacity >= n ids); returns how many, or -1 (out of memory) */
static int64_t encode_text(const Model *m, Cache *cache, const uint8_t *b, int64_t n, uint32_t *out) {
    const uint8_t *tab = m->cls;
    int64_t i = 0, o = 0;
    if (m->pattern == P_NONE && m->split_digits <= 0)  /* no pre-tokenizer: the whole text is one piece */
        return n ? (n <= SMALL ? bpe_small(m, b, 0, n, out) : bpe_long(m, b, 0, n, out)) : 0;
    while (i < n) {
        int64_t ce = chunk_end(tab, b, i, n, m->split_digits);
        while (i < ce) {
            int64_t ends[PIECE_BATCH];
            HotKey keys[PIECE_BATCH];
            int np = fill_ends(m, b, i, ce, n, ends, PIECE_BATCH);
            int64_t s = i;
            for (int t = 0; t < np; t++) {
                keys[t] = hot_key(cache, b, s, ends[t], n);
                if (t < PREFETCH_AHEAD && keys[t].he) __builtin_prefetch(keys[t].he);
                s = ends[t];
            }
            s = i;
            for (int t = 0; t < np; t++) {
                if (t + PREFETCH_AHEAD < np && keys[t + PREFETCH_AHEAD].he)
                    __builtin_prefetch(keys[t + PREFETCH_AHEAD].he);
                int64_t k = encode_piece(m, cache, b, s, ends[t], n, keys[t], out + o);
                if (k < 0) return -1;
                o += k;
                s = ends[t];
            }
            i = ends[np - 1];
        }
    }
    return o;
}

static void free_cache(Cache *c) {
    if (!c) return;
    table_free(c->big, (c->bmask + 1) * sizeof(CEntry));
    free(c->lt); free(c->lbytes); free(c->lids);
    table_free(c, sizeof(Cache));
}

static Cache *new_cache(void) {
    Cache *c = table_alloc(sizeof(Cache));
    if (!c) return NULL;
    c->bmask = (1ull << CACHE_BITS) - 1;
    c->bshift = 64 - CACHE_BITS;
    c->big = table_alloc(((size_t)1 << CACHE_BITS) * sizeof(CEntry));
    c->lt = calloc((size_t)1 << LONG_BITS, sizeof(LEntry));
    if (!c->big || !c->lt) { free_cache(c); return NULL; }
    return c;
}

/* ------------------------------------------------------------------ Python: construction */
static int get_buffer(PyObject *obj, Py_buffer *view, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a bytes-like object", what);
        return -1;
    }
    return 0;
}

static int table_shift(uint64_t cap) {
    int bits = 0;
    while (((uint64_t)1 << bits) < cap) bits++;
    return 64 - bits;
}

/* char_tok for tiktoken-style ranks (a join merges when its bytes are a token, lowest rank first). A BMP character
   c whose own BPE ends in one token T (the largest rank among its merges: r) starts BPE as T when every token
   that holds any of c's bytes together with other bytes ranks above r: a part of c can then never merge outward
   while c is incomplete (c's next merge, <= r, is always there and lower), and no join holding T ranks below r
   either, so every merge outside c happens in the same order as from c's bytes (a pair can only become
   available earlier, never at a different rank). Tokens that cannot be a substring of valid UTF-8 never match a
   join and are skipped; pieces are valid UTF-8 (text is checked on the way in). Tested against tiktoken and
   against vocabularies built to make characters unsafe. Returns 0 when out of memory. */
static int build_char_tokens(Model *m) {
    if (!m->any_split) return 1;
    uint32_t pre1[256], suf1[256];
    uint32_t *pre2 = malloc(65536 * sizeof(uint32_t)), *suf2 = malloc(65536 * sizeof(uint32_t));
    uint32_t *contain = malloc(65536 * sizeof(uint32_t));
    m->char_tok = malloc(65536 * sizeof(uint32_t));
    if (!pre2 || !suf2 || !contain || !m->char_tok) {
        free(pre2); free(suf2); free(contain); free(m->char_tok); m->char_tok = NULL;
        return 0;
    }
    memset(pre1, 0xFF, sizeof(pre1)); memset(suf1, 0xFF, sizeof(suf1));
    memset(pre2, 0xFF, 65536 * sizeof(uint32_t)); memset(suf2, 0xFF, 65536 * sizeof(uint32_t));
    memset(contain, 0xFF, 65536 * sizeof(uint32_t)); memset(m->char_tok, 0xFF, 65536 * sizeof(uint32_t));
    uint32_t *singles = malloc(65536 * sizeof(uint32_t)); /* code points whose bytes are a token */
    int64_t nsingles = 0;
    if (!singles) {
        free(pre2); free(suf2); free(contain); free(m->char_tok); m->char_tok = NULL;
        return 0;
    }
#define LOWER(slot, r) do { if ((r) < (slot)) (slot) = (r); } while (0)
    for (uint64_t slot = 0; slot <= m->vmask; slot++) { /* every token with a rank, by its bytes */
        const VEntry *v = &m->vt[slot];
        if (!v->key || v->rank == NO_RANK) continue;
        const uint8_t *p = m->blob + m->off[v->id];
        int64_t len = (int64_t)(m->off[v->id + 1] - m->off[v->id]), i = 0;
        uint32_t r = v->rank;
        while (i < len && i < 3 && (p[i] & 0xC0) == 0x80) i++;
        int64_t lead = i; /* continuation bytes first: the tail of a character cut in front */
        if (lead == len) continue; /* within one character */
        if (lead == 0 && (len == 2 || len == 3) && (p[0] >= 0xC2 && p[0] < (len == 2 ? 0xE0 : 0xF0))
            && (p[0] >= 0xE0) == (len == 3) && (p[1] & 0xC0) == 0x80 && (len == 2 || (p[2] & 0xC0) == 0x80)) {
            uint32_t cp = bmp_cp(p, (int)len);
            if (len == 2 || cp >= 0x800) singles[nsingles++] = cp; /* one character, shortest form */
            continue;
        }
        int valid = 1;
        while (i < len) { /* check the token can be a substring of valid UTF-8 */
            uint8_t c0 = p[i];
            int w = c0 < 0x80 ? 1 : c0 < 0xC2 ? 0 : c0 < 0xE0 ? 2 : c0 < 0xF0 ? 3 : c0 < 0xF5 ? 4 : 0;
            if (!w) { valid = 0; break; }
            if (i + w > len) { /* a character cut at the end: its head */
                for (int64_t t = i + 1; t < len; t++) if ((p[t] & 0xC0) != 0x80) valid = 0;
                break;
            }
            for (int t = 1; t < w; t++) if ((p[i + t] & 0xC0) != 0x80) valid = 0;
            if (!valid) break;
            i += w;
        }
        if (!valid) continue; /* no substring of valid UTF-8 */
        /* its whole BMP characters (the token holds other bytes too: single characters were taken above) */
        for (int64_t t = lead; t < len;) {
            uint8_t c0 = p[t];
            int w = c0 < 0x80 ? 1 : c0 < 0xE0 ? 2 : c0 < 0xF0 ? 3 : 4;
            if (t + w > len) break;
            if (w == 2 || w == 3) LOWER(contain[bmp_cp(p + t, w)], r);
            t += w;
        }
        if (lead == 1) LOWER(suf1[p[0]], r);
        if (lead == 2) LOWER(suf2[((uint32_t)p[0] << 8) | p[1]], r);
        int64_t head = len - i; /* bytes of a character cut at the end (0 if none) */
        if (head > 0 && i > 0) {
            if (head == 1) LOWER(pre1[p[i]], r);
            if (head == 2) LOWER(pre2[((uint32_t)p[i] << 8) | p[i + 1]], r);
        }
    }
#undef LOWER
    for (int64_t si = 0; si < nsingles; si++) {
        uint32_t cp = singles[si];
        if (cp >= 0xD800 && cp < 0xE000) continue;
        uint8_t q[8] = {0};
        int w;
        if (cp < 0x800) { q[0] = 0xC0 | (cp >> 6); q[1] = 0x80 | (cp & 0x3F); w = 2; }
        else { q[0] = 0xE0 | (cp >> 12); q[1] = 0x80 | ((cp >> 6) & 0x3F); q[2] = 0x80 | (cp & 0x3F); w = 3; }
        const VEntry *whole = vt_get(m, q, w);
        if (!whole || whole->rank == NO_RANK) continue;
        /* the character's own BPE: must end in that one token; r = its largest merge rank */
        uint32_t part[3] = {m->byte_ids[q[0]], m->byte_ids[q[1]], w == 3 ? m->byte_ids[q[2]] : 0};
        int at[4] = {0, 1, 2, 3}, np = w;
        at[w] = w;
        uint32_t r = 0;
        while (np > 1) {
            uint32_t best = NO_RANK, bid = 0;
            int bi = -1;
            for (int t = 0; t + 1 < np; t++) {
                const VEntry *j = vt_get(m, q + at[t], at[t + 2] - at[t]);
                if (j && j->rank < best) { best = j->rank; bid = j->id; bi = t; }
            }
            if (bi < 0) break;
            if (best > r) r = best;
            part[bi] = bid;
            for (int t = bi + 1; t + 1 < np; t++) { part[t] = part[t + 1]; at[t] = at[t + 1]; }
            at[np - 1] = at[np];
            np--;
        }
        if (np != 1 || part[0] != whole->id) continue;
        uint32_t lim = contain[cp];
        if (pre1[q[0]] < lim) lim = pre1[q[0]];
        if (suf1[q[w - 1]] < lim) lim = suf1[q[w - 1]];
        if (w == 3) {
            uint32_t a = pre2[((uint32_t)q[0] << 8) | q[1]], c = suf2[((uint32_t)q[1] << 8) | q[2]];
            if (a < lim) lim = a;
            if (c < lim) lim = c;
        }
        if (r < lim) m->char_tok[cp] = whole->id;
    }
    free(pre2); free(suf2); free(contain); free(singles);
    return 1;
}

static void model_free(Model *m) {
    free(m->cls); free(m->blob); free(m->off); free(m->ok); free(m->pair2); free(m->char_tok);
    if (m->vt) table_free(m->vt, (m->vmask + 1) * sizeof(VEntry));
    free(m->vbits);
    if (m->pt) table_free(m->pt, (m->pmask + 1) * sizeof(PEntry));
    free(m->pbits);
    memset(m, 0, sizeof(*m));
}

/* Encoder(cls, blob, off, vocab_ids, vocab_ranks, byte_ids, pairs, pattern, split_digits, ignore_merges, any_split)
   cls: 0x110000 class bytes; blob: token bytes in id order; off: uint64[n_vocab + 1]; vocab_ids /
   vocab_ranks: uint32 arrays of the ordinary tokens and their merge ranks (NO_RANK if none);
   byte_ids: uint32[256]; pairs: uint32[4 * n] (left, right, rank, merged) or empty. */
static void free_ints(EncoderObject *self);

static PyObject *Encoder_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    EncoderObject *self = (EncoderObject *)PyType_GenericNew(type, args, kw);
    if (self) self->source_id = BPE_SOURCE_ID;
    return (PyObject *)self;
}

static int Encoder_init(EncoderObject *self, PyObject *args, PyObject *kw) {
    PyObject *o_cls, *o_blob, *o_off, *o_ids, *o_ranks, *o_bytes, *o_pairs;
    int pattern, split_digits, ignore_merges, any_split;
    if (!PyArg_ParseTuple(args, "OOOOOOOiipp", &o_cls, &o_blob, &o_off, &o_ids, &o_ranks, &o_bytes, &o_pairs,
                          &pattern, &split_digits, &ignore_merges, &any_split))
        return -1;
    Py_buffer cls, blob, off, ids, ranks, bids, pairs;
    int got = 0, rc = -1;
    Model *m = &self->m;
    model_free(m);
    {
        PyObject *objs[] = {o_cls, o_blob, o_off, o_ids, o_ranks, o_bytes, o_pairs};
        Py_buffer *views[] = {&cls, &blob, &off, &ids, &ranks, &bids, &pairs};
        const char *names[] = {"cls", "blob", "off", "vocab_ids", "vocab_ranks", "byte_ids", "pairs"};
        for (; got < 7; got++) {
            if (get_buffer(objs[got], views[got], names[got]) < 0) goto done;
        }
    }
    if (cls.len != N_CP || bids.len != 256 * 4 || off.len % 8 || off.len < 16 || ids.len % 4 ||
        ids.len != ranks.len || pairs.len % 16) {
        PyErr_SetString(PyExc_ValueError, "Encoder: table sizes do not fit");
        goto done;
    }
    if (pattern < 0 || (pattern & 0xFF) > P_DEEPSEEK ||
        (pattern > 0xFF && (pattern & 0xFF) != P_CL100K_FAMILY)) {
        PyErr_SetString(PyExc_ValueError, "Encoder: unknown pattern id");
        goto done;
    }
    m->n_vocab = (uint32_t)(off.len / 8 - 1);
    m->cls = malloc(N_CP);
    m->blob = malloc(blob.len ? blob.len : 1);
    m->off = malloc(off.len);
    m->ok = calloc(m->n_vocab, 1);
    if (!m->cls || !m->blob || !m->off || !m->ok) { PyErr_NoMemory(); goto done; }
    memcpy(m->cls, cls.buf, N_CP);
    memcpy(m->blob, blob.buf, blob.len);
    memcpy(m->off, off.buf, off.len);
    for (uint32_t i = 0; i < m->n_vocab; i++) {
        if (m->off[i + 1] < m->off[i] || m->off[i + 1] > (uint64_t)blob.len) {
            PyErr_SetString(PyExc_ValueError, "Encoder: offsets out of order");
            goto done;
        }
        m->ok[i] = m->off[i + 1] > m->off[i];
    }
    memcpy(m->byte_ids, bids.buf, sizeof(m->byte_ids));
    for (int i = 0; i < 256; i++) {
        if (m->byte_ids[i] >= m->n_vocab) {
            PyErr_SetString(PyExc_ValueError, "Encoder: byte id out of range");
            goto done;
        }
    }
    {
        int64_t nv = ids.len / 4;
        uint64_t cap = 16;
        while (cap * 5 < 8 * (uint64_t)nv) cap <<= 1;  /* load <= 5/8: Qwen's 151k tokens in 4 MB, not 8 */
        m->vt = table_alloc(cap * sizeof(VEntry)); /* zeroed; huge pages: a cache miss's page walk is short */
        if (!m->vt) { PyErr_NoMemory(); goto done; }
        m->vmask = cap - 1;
        m->vshift = table_shift(cap);
        uint64_t nbits = 1 << 12;  /* 16 bits a token: ~6 % of joins that are no token pass the filter */
        while (nbits < 16 * (uint64_t)nv) nbits <<= 1;
        m->vbits = calloc(nbits / 64, sizeof(uint64_t));
        if (!m->vbits) { PyErr_NoMemory(); goto done; }
        m->vbshift = table_shift(nbits);
        const uint32_t *pid = ids.buf, *prk = ranks.buf;
        for (int64_t t = 0; t < nv; t++) {
            uint32_t id = pid[t];
            if (id >= m->n_vocab || !m->ok[id]) {
                PyErr_SetString(PyExc_ValueError, "Encoder: vocab id out of range");
                goto done;
            }
            uint64_t a = m->off[id];
            int64_t len = (int64_t)(m->off[id + 1] - a);
            if (len > m->max_len) m->max_len = len;
            uint64_t key = vkey(m->blob + a, len);
            uint64_t slot = (key * GOLDEN) >> m->vshift;
            while (m->vt[slot].key != 0) {
                if (len <= 7 && m->vt[slot].key == key) break; /* duplicate token bytes: last wins */
                slot = (slot + 1) & m->vmask;
            }
            m->vt[slot].key = key;
            uint64_t h = (key * 0xD6E8FEB86659FD93ull) >> m->vbshift;
            m->vbits[h >> 6] |= 1ull << (h & 63);
            m->vt[slot].id = id;
            m->vt[slot].rank = prk[t];
        }
    }
    {
        int64_t np_ = pairs.len / 16;
        uint64_t cap = 16;
        while (cap < 2 * (uint64_t)np_) cap <<= 1;
        m->pt = table_alloc(cap * sizeof(PEntry));
        if (!m->pt) { PyErr_NoMemory(); goto done; }
        m->pmask = cap - 1;
        memset(m->pt, 0xFF, cap * sizeof(PEntry));
        m->pshift = table_shift(cap);
        uint64_t nbits = 1 << 12;
        while (nbits < 16 * (uint64_t)np_) nbits <<= 1;
        m->pbits = calloc(nbits / 64, sizeof(uint64_t));
        if (!m->pbits) { PyErr_NoMemory(); goto done; }
        m->pbshift = table_shift(nbits);
        const uint32_t *q = pairs.buf;
        for (int64_t t = 0; t < np_; t++) {
            uint64_t key = ((uint64_t)q[4 * t] << 32) | q[4 * t + 1];
            uint64_t slot = (mix64(key) * GOLDEN) >> m->pshift;
            while (m->pt[slot].key != UINT64_MAX && m->pt[slot].key != key) slot = (slot + 1) & m->pmask;
            if (m->pt[slot].key == key) continue; /* first (lowest-rank) entry wins */
            m->pt[slot].key = key;
            uint64_t h = (mix64(key) * 0xD6E8FEB86659FD93ull) >> m->pbshift;
            m->pbits[h >> 6] |= 1ull << (h & 63);
            m->pt[slot].rank = q[4 * t + 2];
            m->pt[slot].merged = q[4 * t + 3];
        }
    }
    m->pattern = pattern;
    m->split_digits = split_digits;
    m->ascii_blocks = 1;
    for (int c = 0; c < 128; c++) {
        int f = c | 0x20;
        int want = (f >= 'a' && f <= 'z') ? LETTER : (c >= '0' && c <= '9') ? NUMBER
                   : (c == 32 || (c >= 9 && c <= 13)) ? SPACE : 0;
        if ((m->cls[c] & LNS) != want) m->ascii_blocks = 0;
        int kase = (f >= 'a' && f <= 'z') ? (c < 'a' ? UPPERISH : LOWERISH) : 0;
        if (pattern == P_O200K && (m->cls[c] & (UPPERISH | LOWERISH)) != kase) m->ascii_blocks = 0;
    }
    m->ignore_merges = ignore_merges;
    m->any_split = any_split;
    m->pair2 = malloc(65536 * sizeof(uint64_t));
    if (!m->pair2) { PyErr_NoMemory(); goto done; }
    for (int c = 0; c < 65536; c++) {
        uint8_t two[2] = {(uint8_t)(c >> 8), (uint8_t)c};
        m->pair2[c] = merge_value(m, two, 0, 2, m->byte_ids[two[0]], m->byte_ids[two[1]]);
    }
    if (!build_char_tokens(m)) { PyErr_NoMemory(); goto done; }
    free_ints(self);
    self->ints = calloc(m->n_vocab ? m->n_vocab : 1, sizeof(PyObject *));
    if (!self->ints) { PyErr_NoMemory(); goto done; }
    for (uint32_t i = 0; i < m->n_vocab; i++) {
        self->ints[i] = PyLong_FromUnsignedLong(i);
        if (!self->ints[i]) goto done;
        self->n_ints = i + 1;
    }
    for (int t = 0; t < 64; t++) { free_cache(self->pool[t]); self->pool[t] = NULL; }
    free_cache(self->cache);
    self->cache = new_cache();
    if (!self->cache) { PyErr_NoMemory(); goto done; }
    rc = 0;
done:
    {
        Py_buffer *views[] = {&cls, &blob, &off, &ids, &ranks, &bids, &pairs};
        for (int t = 0; t < got; t++) PyBuffer_Release(views[t]);
    }
    if (rc < 0) model_free(m);
    return rc;
}

static void Encoder_dealloc(EncoderObject *self) {
    model_free(&self->m);
    free_ints(self);
    free_cache(self->cache);
    free(self->obuf);
    for (int t = 0; t < 64; t++) free_cache(self->pool[t]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ------------------------------------------------------------------ Python: encode */
/* UTF-8 bytes of a str (CPython's cached UTF-8, no copy for ASCII) or a bytes-like object */
/* every lead byte has its continuation bytes inside the buffer, so the decoder never reads past it */
static int utf8_complete(const uint8_t *b, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        uint8_t c = b[i];
        i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    }
    return i == n;
}

static int text_bytes(PyObject *obj, const uint8_t **data, Py_ssize_t *n, Py_buffer *view, int *has_view) {
    *has_view = 0;
    if (PyUnicode_Check(obj)) {
        const char *p = PyUnicode_AsUTF8AndSize(obj, n);
        if (!p) return -1;
        *data = (const uint8_t *)p;
        return 0;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) return -1;
    *has_view = 1;
    *data = view->buf;
    *n = view->len;
    if (!utf8_complete(*data, *n)) {
        PyBuffer_Release(view);
        *has_view = 0;
        PyErr_SetString(PyExc_ValueError, "text bytes are not valid UTF-8");
        return -1;
    }
    return 0;
}

/* Keeping freed memory for the next batch's lists (glibc only).
 *
 * A list of ids gets its item array from malloc. glibc returns a free heap top of over 128 KB to the kernel and
 * maps blocks of over 128 KB afresh, until a large free moves both thresholds up (history decides when). So a
 * loop that frees one batch's lists and encodes the next could fault every page of the new lists in again: ~1700
 * faults, ~1.2 ms per 4 MB of code, all on the calling thread, which alone makes lists (2-thread list passes took
 * 6.6 ms instead of 5.4; measured by hand in the benchmark's child processes). The first call that builds lists
 * (or one buffer of a 1-thread batch's ids, whose block is sized for the most ids the texts can give) sets the
 * thresholds where glibc's own adjustment stops (blocks up to 32 MB from the heap, up to 64 MB of free
 * top kept): a process that encodes to lists keeps up to that much freed memory for reuse. TOKENLAB_MALLOPT=0
 * leaves malloc as it is. */
static int malloc_kept = -1; /* -1: not decided yet; 0: left alone; 1: thresholds set */

static inline void keep_freed_memory(void) {
    if (malloc_kept >= 0) return;
    const char *env = getenv("TOKENLAB_MALLOPT");
    malloc_kept = 0;
#ifdef __GLIBC__
    if (!(env && strcmp(env, "0") == 0))
        malloc_kept = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 64 << 20) == 1;
#else
    (void)env;
#endif
}

/* malloc_kept() -> bool: whether this module set glibc's thresholds (for tests) */
static PyObject *py_malloc_kept(PyObject *self, PyObject *noargs) {
    (void)self; (void)noargs;
    return PyBool_FromLong(malloc_kept == 1);
}

/* The list of k ids, not tracked by the cycle collector: it holds only ints, so it cannot be part of a cycle
   when it is returned, and every collector pass over a tracked list visits each of its items (a list encode of
   2 MB of text spent 23 % of its time there, all on the calling thread). A caller who later stores an object
   that refers back to the list makes a cycle the collector cannot free (as for any untracked object). */
static PyObject *ids_to_list(EncoderObject *self, const uint32_t *ids, int64_t k) {
    keep_freed_memory();
    PyObject *list = PyList_New(k);
    if (!list) return NULL;
    PyObject **ints = self->ints;
    uint32_t n_ints = self->n_ints;
    for (int64_t t = 0; t < k; t++) {
        uint32_t id = ids[t];
        PyObject *v;
        if (id < n_ints) {
            v = ints[id];
            Py_INCREF(v);
        } else {
            v = PyLong_FromUnsignedLong(id);
            if (!v) { Py_DECREF(list); return NULL; }
        }
        PyList_SET_ITEM(list, t, v);
    }
    PyObject_GC_UnTrack(list);
    return list;
}

static void free_ints(EncoderObject *self) {
    for (uint32_t i = 0; i < self->n_ints; i++) Py_XDECREF(self->ints[i]);
    free(self->ints);
    self->ints = NULL;
    self->n_ints = 0;
}

/* the encoder's cache and output buffer (capacity >= n ids), or fresh ones when another thread holds them */
static Cache *take_cache(EncoderObject *self, int *owned, uint32_t **out, int64_t n) {
    size_t need = (n > 0 ? (size_t)n : 1) + OUT_SLACK;
    if (__sync_bool_compare_and_swap(&self->cache_busy, 0, 1)) {
        if (self->ocap < need) {
            size_t cap = self->ocap ? self->ocap : 4096;
            while (cap < need) cap *= 2;
            uint32_t *p = realloc(self->obuf, cap * sizeof(uint32_t));
            if (!p) { __sync_lock_release(&self->cache_busy); return NULL; }
            self->obuf = p;
            self->ocap = cap;
        }
        *owned = 0;
        *out = self->obuf;
        return self->cache;
    }
    *owned = 1;
    *out = malloc(need * sizeof(uint32_t));
    Cache *c = *out ? new_cache() : NULL;
    if (!c) free(*out);
    return c;
}

static void give_cache(EncoderObject *self, Cache *cache, int owned, uint32_t *out) {
    if (owned) { free_cache(cache); free(out); }
    else __sync_lock_release(&self->cache_busy);
}

/* encode(text, as_list=True): ids of one text (str or UTF-8 bytes): a list, or uint32 bytes */
static PyObject *Encoder_encode(EncoderObject *self, PyObject *args) {
    PyObject *obj;
    int as_list = 1;
    if (!PyArg_ParseTuple(args, "O|p", &obj, &as_list)) return NULL;
    if (!self->m.cls) { PyErr_SetString(PyExc_RuntimeError, "Encoder not initialised"); return NULL; }
    const uint8_t *data;
    Py_ssize_t n;
    Py_buffer view;
    int has_view;
    if (text_bytes(obj, &data, &n, &view, &has_view) < 0) return NULL;
    PyObject *res = NULL;
    int owned;
    uint32_t *out;
    Cache *cache = take_cache(self, &owned, &out, n);
    if (!cache) { PyErr_NoMemory(); goto done; }
    int64_t k;
    if (n > 65536) {
        Py_BEGIN_ALLOW_THREADS
        k = encode_text(&self->m, cache, data, n, out);
        Py_END_ALLOW_THREADS
    } else {
        k = encode_text(&self->m, cache, data, n, out);
    }
    if (k < 0) PyErr_NoMemory();
    else res = as_list ? ids_to_list(self, out, k) : PyByteArray_FromStringAndSize((const char *)out, k * 4);
    give_cache(self, cache, owned, out);
done:
    if (has_view) PyBuffer_Release(&view);
    return res;
}

typedef struct {
    const Model *m;
    const uint8_t **data;
    const int64_t *lens;
    const int64_t *starts;  /* doc d's ids go to flat[starts[d]:] (ids never outnumber bytes) */
    uint32_t *flat;
    int64_t n_docs;
    int64_t *counts;        /* ids per doc */
    int nthreads;
    volatile uint64_t span[64]; /* per thread: the groups [lo, hi) of its region not taken yet, as lo << 32 | hi */
    int64_t group;          /* docs per group */
    int64_t n_groups;
    int64_t *fin;           /* groups whose ids are in flat, in the order they were finished... */
    volatile int64_t nfin;  /* ...and how many (written under lock, read with acquire) */
    volatile int failed;
    pthread_mutex_t lock;   /* with wake: the calling thread sleeps until the group it needs next is done */
    pthread_cond_t wake;
} BatchJob;

static void run_docs(BatchJob *job, Cache *cache, int64_t d0, int64_t d1) {
    for (int64_t d = d0; d < d1 && !job->failed; d++) {
        int64_t k = encode_text(job->m, cache, job->data[d], job->lens[d], job->flat + job->starts[d]);
        if (k < 0) { job->failed = 1; break; }
        job->counts[d] = k;
    }
}

/* the next group for thread t: the front of its own region, else the back of the region with most left; -1 when
   none is left. Thread t gets the same documents on every call with the same batch (up to the stolen tail), so
   its cache is warm for them: with a shared queue each call dealt documents out anew, and every thread met
   pieces only the other had seen (a multilingual batch, one language per document, needed ~4 calls to settle) */
static int64_t take_group(BatchJob *job, int t) {
    for (;;) {
        uint64_t sp = job->span[t], lo = sp >> 32, hi = sp & 0xFFFFFFFFu;
        if (lo < hi) {
            if (__sync_bool_compare_and_swap(&job->span[t], sp, sp + (1ull << 32))) return (int64_t)lo;
            continue;
        }
        int best = -1;
        uint64_t most = 0;
        for (int u = 0; u < job->nthreads; u++) {
            uint64_t su = job->span[u], left = (su & 0xFFFFFFFFu) - (su >> 32);
            if ((su >> 32) < (su & 0xFFFFFFFFu) && left > most) { most = left; best = u; }
        }
        if (best < 0) return -1;
        uint64_t su = job->span[best];
        if ((su >> 32) < (su & 0xFFFFFFFFu) && __sync_bool_compare_and_swap(&job->span[best], su, su - 1))
            return (int64_t)(su & 0xFFFFFFFFu) - 1;
    }
}

/* takes thread t's next group and encodes it; 0 when none is left */
static int run_group(BatchJob *job, Cache *cache, int t) {
    int64_t g = job->failed ? -1 : take_group(job, t);
    if (g < 0) return 0;
    int64_t d0 = g * job->group, d1 = d0 + job->group < job->n_docs ? d0 + job->group : job->n_docs;
    run_docs(job, cache, d0, d1);
    pthread_mutex_lock(&job->lock);
    job->fin[job->nfin] = g;
    __atomic_store_n(&job->nfin, job->nfin + 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&job->wake);
    pthread_mutex_unlock(&job->lock);
    return 1;
}

typedef struct { BatchJob *job; Cache *cache; int t; } Worker;

static void *batch_worker(void *arg) {
    Worker *w = arg;
    while (run_group(w->job, w->cache, w->t)) {}
    return NULL;
}

/* one doc's ids as the caller asked: a list, or uint32 bytes (as_list 0) */
static PyObject *doc_output(EncoderObject *self, const uint32_t *ids, int64_t k, int as_list) {
    return as_list ? ids_to_list(self, ids, k) : PyByteArray_FromStringAndSize((const char *)ids, k * 4);
}

#define GAPPED_TEXT 8192  /* as_list 3 with threads leaves gaps between texts of this many bytes on average */

/* where each text's ids lie, as int64s: nd + 1 offsets (as_list 2; the first 0 already, for no texts) or nd
   (start, end) pairs (as_list 3); put_bounds fills in text d's [a, b) */
static PyObject *new_bounds(int64_t nd, int pairs) {
    PyObject *offs = PyByteArray_FromStringAndSize(NULL, (pairs ? 2 * nd : nd + 1) * 8);
    if (offs && !pairs) ((int64_t *)PyByteArray_AS_STRING(offs))[0] = 0;
    return offs;
}

static inline void put_bounds(int64_t *o, int64_t d, int64_t a, int64_t b, int pairs) {
    if (pairs) { o[2 * d] = a; o[2 * d + 1] = b; }
    else { o[d] = a; o[d + 1] = b; }
}

/* encode_batch(texts, num_threads, as_list=1): ids per text. as_list 1: a list of lists; 0: a list of uint32
   bytearrays; 2: (uint32 bytearray of all ids back to back, int64 bytearray of nd + 1 offsets); 3: (uint32
   bytearray, int64 bytearray of a (start, end) pair per text): with threads and long texts, each text's ids stay
   where its thread wrote them, gaps between (the numpy API's views; no copy of the ids into place) */
static PyObject *Encoder_encode_batch(EncoderObject *self, PyObject *args) {
    PyObject *seq;
    int nthreads, as_list = 1;
    if (!PyArg_ParseTuple(args, "Oi|i", &seq, &nthreads, &as_list)) return NULL;
    if (!self->m.cls) { PyErr_SetString(PyExc_RuntimeError, "Encoder not initialised"); return NULL; }
    PyObject *fast = PySequence_Fast(seq, "encode_batch expects a sequence of texts");
    if (!fast) return NULL;
    int64_t nd = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *res = NULL;
    BatchJob job;
    memset(&job, 0, sizeof(job));
    pthread_mutex_init(&job.lock, NULL);
    pthread_cond_init(&job.wake, NULL);
    size_t cnt = nd ? (size_t)nd : 1;
    const uint8_t **data = calloc(cnt, sizeof(*data));
    int64_t *lens = calloc(cnt, sizeof(int64_t));
    int64_t *starts = calloc(cnt, sizeof(int64_t));
    int64_t *counts = calloc(cnt, sizeof(int64_t));
    Py_buffer *views = calloc(cnt, sizeof(Py_buffer));
    char *has_view = calloc(cnt, 1);
    uint32_t *flat = NULL;
    int owned1 = 1;
    Cache *cache1 = NULL;
    int64_t total = 0;
    PyObject *spaced = NULL;  /* as_list 3: the result buffer, each text's ids at its own offset (gaps between) */
    if (!data || !lens || !starts || !counts || !views || !has_view) { PyErr_NoMemory(); goto done; }
    for (int64_t d = 0; d < nd; d++) {
        Py_ssize_t n;
        int hv;
        if (text_bytes(items[d], &data[d], &n, &views[d], &hv) < 0) goto done;
        has_view[d] = (char)hv;
        lens[d] = n;
        starts[d] = total;
        total += n + OUT_SLACK;
    }
    if (nthreads < 1) nthreads = 1;
    if (total < 65536 || nd < 2) nthreads = 1;
    if (nthreads > nd) nthreads = (int)nd;
    if (nthreads > 64) nthreads = 64;
    /* the calling thread encodes too, with the encoder's own warm cache and output buffer (no fresh pages to
       fault in); between its groups it turns finished groups into the result (that part needs the GIL), so
       building lists overlaps the other threads' encoding instead of following it */
    if (as_list >= 2 && nthreads == 1) {
        /* one thread, one buffer of all ids: each text's ids go straight to their place in the result (sized for
           the most ids the texts can give, then shrunk in place; pages past the ids are never touched) */
        cache1 = take_cache(self, &owned1, &flat, 0);
        if (!cache1) { flat = NULL; PyErr_NoMemory(); goto done; }
        keep_freed_memory();  /* else that larger block could be mapped afresh, and faulted in, on every call */
        PyObject *ids = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(total + OUT_SLACK) * 4);
        int pairs = as_list == 3;
        PyObject *offs = ids ? new_bounds(nd, pairs) : NULL;
        if (ids && offs) {
            uint32_t *dst = (uint32_t *)PyByteArray_AS_STRING(ids);
            int64_t *o = (int64_t *)PyByteArray_AS_STRING(offs);
            int64_t at = 0, k = 0;
            Py_BEGIN_ALLOW_THREADS
            for (int64_t d = 0; d < nd && k >= 0; d++) {
                k = encode_text(&self->m, cache1, data[d], lens[d], dst + at);
                put_bounds(o, d, at, at + k, pairs);
                at += k;
            }
            Py_END_ALLOW_THREADS
            if (k < 0) PyErr_NoMemory();
            else if (PyByteArray_Resize(ids, (Py_ssize_t)(at * 4)) == 0) res = PyTuple_Pack(2, ids, offs);
        }
        Py_XDECREF(ids);
        Py_XDECREF(offs);
        goto done;
    }
    /* gaps only between long texts: a text's room is 4 bytes per byte of it, its ids take about a quarter, so
       between short texts the gaps would share pages with the ids and hold ~4x their memory; there the ids are
       copied together as for as_list 2 */
    int gapped = as_list == 3 && total / nd >= GAPPED_TEXT;
    cache1 = take_cache(self, &owned1, &flat, gapped ? 0 : total);
    if (!cache1) { flat = NULL; PyErr_NoMemory(); goto done; }
    job.m = &self->m; job.data = data; job.lens = lens; job.starts = starts; job.flat = flat;
    if (gapped) {
        keep_freed_memory();
        spaced = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(total + OUT_SLACK) * 4);
        if (!spaced) goto done;
        job.flat = (uint32_t *)PyByteArray_AS_STRING(spaced);
    }
    job.n_docs = nd; job.counts = counts;
    {
        /* groups of ~64 KB of text, so threads balance and a thread's cache stays warm */
        int64_t avg = nd ? total / nd + 1 : 1;
        job.group = 65536 / avg + 1;
        job.n_groups = (nd + job.group - 1) / job.group;
    }
    job.fin = calloc(job.n_groups ? job.n_groups : 1, sizeof(int64_t));
    if (!job.fin) { PyErr_NoMemory(); goto done; }
    pthread_t tids[64];
    Worker workers[64];
    int started = 0, pooled = 0;
    if (nthreads > 1) {
        /* the pool's caches stay warm across calls; a concurrent call gets fresh ones */
        pooled = __sync_bool_compare_and_swap(&self->pool_busy, 0, 1);
        for (int t = 1; t < nthreads; t++) {
            workers[t].job = &job;
            workers[t].t = t;
            if (pooled) {
                if (!self->pool[t]) self->pool[t] = new_cache();
                workers[t].cache = self->pool[t];
            } else {
                workers[t].cache = new_cache();
            }
            if (!workers[t].cache) { nthreads = t; break; }  /* fewer threads, same result */
        }
    }
    /* the groups in nthreads contiguous regions (set before any worker starts; the caller's region is the first,
       so it builds results in order as it encodes) */
    job.nthreads = nthreads;
    for (int t = 0; t < nthreads; t++) {
        uint64_t lo = (uint64_t)(job.n_groups * t / nthreads), hi = (uint64_t)(job.n_groups * (t + 1) / nthreads);
        job.span[t] = (lo << 32) | hi;
    }
    if (nthreads > 1) {
        for (int t = 1; t < nthreads; t++) {
            if (pthread_create(&tids[t], NULL, batch_worker, &workers[t]) != 0) break;
            started = t;
        }
    }
    /* numpy output (as_list 2, and 3 between short texts) is copied once all counts are known, into a buffer of
       the exact size; between long texts (as_list 3) the ids stay where the threads wrote them */
    if (as_list < 2) res = PyList_New(nd);
    int out_ok = as_list >= 2 || res != NULL;
    int64_t built = 0;      /* finished groups whose docs are in the result */
    while (out_ok && built < job.n_groups) {
        /* lists are made for groups in the order they finish, not in document order: the other threads'
           groups are made into lists while this thread still has groups to encode, not all after them */
        if (built < __atomic_load_n(&job.nfin, __ATOMIC_ACQUIRE)) {
            int64_t g = job.fin[built++];
            int64_t d0 = g * job.group, d1 = d0 + job.group < nd ? d0 + job.group : nd;
            for (int64_t d = d0; d < d1 && out_ok && as_list < 2; d++) {
                PyObject *v = doc_output(self, flat + starts[d], counts[d], as_list);
                if (!v) out_ok = 0;
                else PyList_SET_ITEM(res, d, v);
            }
            continue;
        }
        if (job.failed) break;
        int ran;
        Py_BEGIN_ALLOW_THREADS
        ran = run_group(&job, cache1, 0);
        if (!ran) { /* every group is taken: sleep until another one is finished */
            pthread_mutex_lock(&job.lock);
            while (__atomic_load_n(&job.nfin, __ATOMIC_ACQUIRE) == built && !job.failed)
                pthread_cond_wait(&job.wake, &job.lock);
            pthread_mutex_unlock(&job.lock);
        }
        Py_END_ALLOW_THREADS
    }
    if (!out_ok) job.failed = 1;  /* stop the workers early */
    if (started) {
        Py_BEGIN_ALLOW_THREADS
        for (int t = 1; t <= started; t++) pthread_join(tids[t], NULL);
        Py_END_ALLOW_THREADS
    }
    if (nthreads > 1) {
        if (pooled) __sync_lock_release(&self->pool_busy);
        else for (int t = 1; t < nthreads; t++) free_cache(workers[t].cache);
    }
    free(job.fin);
    if (job.failed || !out_ok) {
        if (out_ok) PyErr_NoMemory();
        Py_CLEAR(res);
        goto done;
    }
    if (spaced) { /* the ids where the threads wrote them, with (start, end) per text: no copy */
        PyObject *offs = new_bounds(nd, 1);
        if (offs) {
            int64_t *o = (int64_t *)PyByteArray_AS_STRING(offs);
            for (int64_t d = 0; d < nd; d++) put_bounds(o, d, starts[d], starts[d] + counts[d], 1);
            int64_t last = starts[nd - 1] + counts[nd - 1];  /* texts lie in order */
            if (PyByteArray_Resize(spaced, (Py_ssize_t)(last * 4)) == 0) res = PyTuple_Pack(2, spaced, offs);
            Py_DECREF(offs);
        }
    } else if (as_list >= 2) { /* one buffer of all ids back to back, and nd + 1 offsets or nd (start, end) pairs */
        int pairs = as_list == 3;
        int64_t k = 0;
        for (int64_t d = 0; d < nd; d++) k += counts[d];
        PyObject *ids = PyByteArray_FromStringAndSize(NULL, k * 4);
        PyObject *offs = new_bounds(nd, pairs);
        if (ids && offs) {
            char *dst = PyByteArray_AS_STRING(ids);
            int64_t *o = (int64_t *)PyByteArray_AS_STRING(offs);
            int64_t at = 0;
            for (int64_t d = 0; d < nd; d++) {
                memcpy(dst + at * 4, flat + starts[d], counts[d] * 4);
                put_bounds(o, d, at, at + counts[d], pairs);
                at += counts[d];
            }
            res = PyTuple_Pack(2, ids, offs);
        }
        Py_XDECREF(ids);
        Py_XDECREF(offs);
    }
done:
    Py_XDECREF(spaced);
    pthread_cond_destroy(&job.wake);
    pthread_mutex_destroy(&job.lock);
    if (views && has_view) for (int64_t d = 0; d < nd; d++) if (has_view[d]) PyBuffer_Release(&views[d]);
    free(data); free(lens); free(starts); free(counts); free(views); free(has_view);
    if (cache1) give_cache(self, cache1, owned1, flat);
    Py_DECREF(fast);
    return res;
}

/* split(data): byte offsets where pre-tokenizer pieces end (for tests and the splitter API) */
static PyObject *Encoder_split(EncoderObject *self, PyObject *args) {
    PyObject *obj;
    if (!PyArg_ParseTuple(args, "O", &obj)) return NULL;
    if (!self->m.cls) { PyErr_SetString(PyExc_RuntimeError, "Encoder not initialised"); return NULL; }
    const uint8_t *b;
    Py_ssize_t n;
    Py_buffer view;
    int has_view;
    if (text_bytes(obj, &b, &n, &view, &has_view) < 0) return NULL;
    PyObject *list = PyList_New(0);
    const Model *m = &self->m;
    int64_t i = 0;
    while (list && i < n) {
        int64_t ce = chunk_end(m->cls, b, i, n, m->split_digits);
        while (list && i < ce) {
            int64_t ends[PIECE_BATCH];
            int np = fill_ends(m, b, i, ce, n, ends, PIECE_BATCH);
            for (int t = 0; t < np; t++) {
                PyObject *v = PyLong_FromLongLong(ends[t]);
                if (!v || PyList_Append(list, v) < 0) { Py_XDECREF(v); Py_CLEAR(list); break; }
                Py_DECREF(v);
            }
            i = ends[np - 1];
        }
    }
    if (has_view) PyBuffer_Release(&view);
    return list;
}

/* encode_split(text, pieces, as_list=True): ids of a text already cut into pieces (strs whose concatenation is
   the text, e.g. a regex's findall): the pieces' lengths in code points walk the text's UTF-8 once, and each
   piece is encoded as the pre-tokenizers' pieces are (caches, merges); nothing is split further. */
static PyObject *Encoder_encode_split(EncoderObject *self, PyObject *args) {
    PyObject *obj, *pieces;
    int as_list = 1;
    if (!PyArg_ParseTuple(args, "OO|p", &obj, &pieces, &as_list)) return NULL;
    if (!self->m.cls) { PyErr_SetString(PyExc_RuntimeError, "Encoder not initialised"); return NULL; }
    if (!PyUnicode_Check(obj)) { PyErr_SetString(PyExc_TypeError, "encode_split: text must be str"); return NULL; }
    PyObject *fast = PySequence_Fast(pieces, "encode_split: pieces must be a sequence of str");
    if (!fast) return NULL;
    Py_ssize_t n, n_pieces = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    const uint8_t *b = (const uint8_t *)PyUnicode_AsUTF8AndSize(obj, &n);
    if (!b) { Py_DECREF(fast); return NULL; }
    PyObject *res = NULL;
    int owned;
    uint32_t *out;
    Cache *cache = take_cache(self, &owned, &out, n);
    if (!cache) { PyErr_NoMemory(); Py_DECREF(fast); return NULL; }
    const Model *m = &self->m;
    int ascii = PyUnicode_IS_ASCII(obj);
    int64_t i = 0, o = 0, total_chars = 0;
    for (Py_ssize_t t = 0; t < n_pieces; t++) {
        PyObject *piece = items[t];
        if (!PyUnicode_Check(piece)) { PyErr_SetString(PyExc_TypeError, "encode_split: a piece is not a str"); break; }
        Py_ssize_t chars = PyUnicode_GET_LENGTH(piece);
        total_chars += chars;
        int64_t j = i;
        if (ascii) j += chars;
        else for (Py_ssize_t c = 0; c < chars && j < n; c++) j += b[j] < 0x80 ? 1 : b[j] < 0xE0 ? 2 : b[j] < 0xF0 ? 3 : 4;
        if (j > n) break;
        if (j == i) continue;
        int64_t k = encode_piece(m, cache, b, i, j, n, hot_key(cache, b, i, j, n), out + o);
        if (k < 0) { PyErr_NoMemory(); break; }
        o += k;
        i = j;
    }
    if (!PyErr_Occurred()) {
        if (i != n || total_chars != PyUnicode_GET_LENGTH(obj)) PyErr_SetString(PyExc_ValueError, "encode_split: the pieces do not make up the text");
        else res = as_list ? ids_to_list(self, out, o) : PyByteArray_FromStringAndSize((const char *)out, o * 4);
    }
    give_cache(self, cache, owned, out);
    Py_DECREF(fast);
    return res;
}

/* ------------------------------------------------------------------ compiled regex programs
   A pre-tokenizer regex from the common subset (tokenlab.encode.regex_program compiles it): alternatives, each a
   sequence of items = a character class with {min,max} (greedy, backtracking; or possessive), a one-class
   lookahead, or end of text; tried leftmost-first with backtracking, as tiktoken's fancy-regex does. Classes are
   bit sets over per-pattern class ids (cid: one byte per code point). Every step counts against a budget; when it
   runs out (catastrophic backtracking) the caller falls back to the regex module, which has a time limit. */
#define RX_POSSESSIVE 1
#define RX_LOOK_NEG 2
#define RX_LOOK_POS 4
#define RX_END 8
#define RX_OPT 16          /* last item: an optional group, alternatives min..min+max-1 of the table, first match */
#define RX_FIRST_MAX 64

typedef struct {
    const uint8_t *cid;      /* class id per code point */
    const uint64_t *masks;   /* 4 words per class: which class ids it holds */
    const int32_t *prog;     /* n_alts, n_all, (first item, n_items) per alternative (n_all: the top-level n_alts,
                                then optional groups' ones), then items (cls, min, max, flags) */
    uint64_t first[RX_FIRST_MAX][4]; /* per top-level alternative: the class ids a match can start with */
    uint64_t any_first;      /* alternatives the first-char test cannot rule out (lookahead, $ or an optional
                                group before their first required item; index >= RX_FIRST_MAX) */
    int vm;                  /* a general VM program (prog[0] == -1): the fields below */
    const int32_t *code;     /* 5 int32 per instruction: op, a, b, c, d */
    int32_t n_insn, first_row; /* whole-pattern first-char row of masks, or -1 */
    struct RxFrame *st;      /* the VM's backtracking stack (malloc'd, grown on demand; rx_free) */
    int64_t cap;
    const uint64_t (*alt_tab)[257]; /* per ALT: per class id (256: end of text) the alternatives that may match
                                (compiled with the program, checked by rxv_check) */
} RxProgram;

static inline int rx_in(const RxProgram *p, int32_t cls, const uint8_t *b, int64_t i, int *w) {
    uint32_t c = b[i] < 0x80 ? (*w = 1, b[i]) : cp_at(b, i, w);
    uint32_t id = p->cid[c];
    return (p->masks[4 * cls + (id >> 6)] >> (id & 63)) & 1;
}

/* end of items k.. of an alternative matched from pos, -1 if they do not match, -2 when the budget is spent */
static int64_t rx_items(const RxProgram *p, const int32_t *items, int k, int n, const uint8_t *b, int64_t pos,
                        int64_t end, int64_t *budget) {
    if (k == n) return pos;
    const int32_t *x = items + 4 * k;
    int32_t cls = x[0], lo = x[1], hi = x[2], flags = x[3];
    int w;
    if (flags & RX_END) return pos == end ? rx_items(p, items, k + 1, n, b, pos, end, budget) : -1;
    if (flags & RX_OPT) { /* (?:G1|G2|...)? ending the alternative: nothing after it can fail */
        const int32_t *base = p->prog + 2 + 2 * p->prog[1];
        for (int32_t a = lo; a < lo + hi; a++) {
            int64_t r = rx_items(p, base + 4 * p->prog[2 + 2 * a], 0, p->prog[3 + 2 * a], b, pos, end, budget);
            if (r != -1) return r;
        }
        return pos;
    }
    if (flags & (RX_LOOK_NEG | RX_LOOK_POS)) {
        int in = pos < end && rx_in(p, cls, b, pos, &w);
        if ((flags & RX_LOOK_NEG) ? in : !in) return -1;
        return rx_items(p, items, k + 1, n, b, pos, end, budget);
    }
    int64_t q = pos, count = 0;
    while (count < hi && q < end && rx_in(p, cls, b, q, &w)) { q += w; count++; }
    *budget -= 1 + (q - pos);
    if (*budget < 0) return -2;
    if (count < lo) return -1;
    if ((flags & RX_POSSESSIVE) || k == n - 1) return rx_items(p, items, k + 1, n, b, q, end, budget);
    for (;;) {
        int64_t r = rx_items(p, items, k + 1, n, b, q, end, budget);
        if (r != -1) return r;
        if (count == lo) return -1;
        do q--; while ((b[q] & 0xC0) == 0x80); /* back one code point */
        count--;
        if (--*budget < 0) return -2;
    }
}

/* end of the piece at i: the first alternative that matches (non-empty), else the unmatched text up to the next
   position where one does (a piece of its own, as tokenlab's isolated regex split keeps it); -2: budget spent */
static int64_t rxv_next(RxProgram *p, const uint8_t *b, int64_t i, int64_t end, int64_t *budget);

static int64_t rx_next(RxProgram *p, const uint8_t *b, int64_t i, int64_t end, int64_t *budget) {
    if (p->vm) return rxv_next(p, b, i, end, budget);
    int32_t n_alts = p->prog[0];
    const int32_t *items = p->prog + 2 + 2 * p->prog[1];
    for (int64_t j = i; j < end;) {
        int w;
        uint32_t id = p->cid[b[j] < 0x80 ? b[j] : cp_at(b, j, &w)];
        for (int32_t a = 0; a < n_alts; a++) {
            /* an alternative whose first char cannot be this one is not tried (its items would fail at once) */
            if (a < RX_FIRST_MAX && !((p->any_first >> a) & 1) && !((p->first[a][id >> 6] >> (id & 63)) & 1))
                continue;
            int64_t r = rx_items(p, items + 4 * p->prog[2 + 2 * a], 0, p->prog[3 + 2 * a], b, j, end, budget);
            if (r == -2) return -2;
            if (r > j) return j == i ? r : j;
        }
        cp_at(b, j, &w);
        j += w;
    }
    return end;
}

/* ------------------------------------------------------------------ the general regex VM
   Any other pattern regex_program.compile_vm accepts: nested and quantified groups (greedy, lazy, possessive),
   alternation at any depth, atomic groups, lookahead and fixed-width lookbehind, ^ $ \A \z \b \B. A program of
   five-int instructions run by a backtracking matcher with an explicit stack (leftmost-first: the first way to
   match in priority order wins, as in fancy-regex). Class runs are single instructions, and a greedy run leaves
   one stack entry that gives back a code point at a time, so the common pattern shapes cost what rx_items costs.
   An ALT picks the alternatives the next char can start from a per-class-id table, so a failed alternative
   costs nothing. One-class lookarounds are assertions tested in place; other lookarounds and atomic groups run
   their body as a nested match (its stack entries are then dropped). Every
   instruction and every char scanned counts against the budget; stack growth past RXV_MAX_FRAMES also returns
   -2 (the caller then splits with the regex module). */
#define RXV_RUN 1
#define RXV_SPLIT 2
#define RXV_GUARD 3
#define RXV_JMP 4
#define RXV_ASSERT 5
#define RXV_LOOK 6
#define RXV_ATOMIC 7
#define RXV_SUCCEED 8
#define RXV_ALT 9          /* n k, then n ALTPC (start, first-char row or -1): ordered choice by a table */
#define RXV_ALTPC 10
#define RXV_LAZY 1
#define RXV_POSSESSIVE 2
#define RXV_MAX_FRAMES (1 << 21)
#define RXV_MAX_DEPTH 64

enum { RXF_JUMP, RXF_GREEDY, RXF_LAZY, RXF_ALT };
typedef struct RxFrame { int64_t pos, aux; int32_t pc, kind; } RxFrame;

static inline int64_t back_cp(const uint8_t *b, int64_t q) { /* q > 0 */
    do q--; while (q > 0 && (b[q] & 0xC0) == 0x80);
    return q;
}

static int rxv_push(RxProgram *p, int64_t sp, int32_t kind, int32_t pc, int64_t pos, int64_t aux) {
    if (sp >= p->cap) {
        if (p->cap >= RXV_MAX_FRAMES) return -1;
        int64_t cap = p->cap ? 2 * p->cap : 256;
        RxFrame *st = realloc(p->st, (size_t)cap * sizeof(RxFrame));
        if (!st) return -1;
        p->st = st;
        p->cap = cap;
    }
    RxFrame *f = &p->st[sp];
    f->pos = pos; f->aux = aux; f->pc = pc; f->kind = kind;
    return 0;
}

#define RXV_PUSH(kind, to, at, aux) do { if (rxv_push(p, sp, kind, to, at, aux) < 0) RXV_RETURN(-2); sp++; } while (0)

/* end of a match of the program from pc at pos (entries above sp0 are this match's), -1: none, -2: budget */
static int64_t rxv_run(RxProgram *p, int32_t pc, int64_t pos, int64_t sp0, int depth, const uint8_t *b,
                       int64_t end, int64_t *budget) {
    if (depth > RXV_MAX_DEPTH) return -2;
    const int32_t *code = p->code;
    int64_t sp = sp0, bud = *budget; /* the budget in a register; written back on return and around nested runs */
    int w;
#define RXV_RETURN(v) do { *budget = bud; return (v); } while (0)
    for (;;) {
        const int32_t *x = code + 5 * (int64_t)pc;
        if (--bud < 0) RXV_RETURN(-2);
        switch (x[0]) {
        case RXV_RUN: {
            int32_t cls = x[1];
            int64_t lo = x[2], hi = x[3], q = pos, count = 0;
            while (count < lo && q < end && rx_in(p, cls, b, q, &w)) { q += w; count++; }
            if (count < lo) { bud -= q - pos; goto fail; }
            int64_t qlo = q;
            int last = code[5 * (int64_t)(pc + 1)] == RXV_SUCCEED; /* nothing after it can fail */
            if (x[4] == RXV_LAZY) {
                if (hi > lo && !last) RXV_PUSH(RXF_LAZY, pc, q, hi - lo);
            } else {
                while (count < hi && q < end && rx_in(p, cls, b, q, &w)) { q += w; count++; }
                if (x[4] != RXV_POSSESSIVE && q > qlo && !last) RXV_PUSH(RXF_GREEDY, pc + 1, q, qlo);
            }
            bud -= q - pos;
            pos = q;
            pc++;
            continue;
        }
        case RXV_SPLIT:
            RXV_PUSH(RXF_JUMP, x[2], pos, 0);
            pc = x[1];
            continue;
        case RXV_GUARD: /* an alternative that cannot start with the next char is skipped without an entry */
            if (pos < end && rx_in(p, x[1], b, pos, &w)) { RXV_PUSH(RXF_JUMP, x[2], pos, 0); pc++; }
            else pc = x[2];
            continue;
        case RXV_JMP:
            pc = x[1];
            continue;
        case RXV_ASSERT: {
            int ok;
            switch (x[1]) {
            case 0: ok = pos == 0; break;
            case 1: ok = pos == end; break;
            case 4: case 5: ok = (pos < end && rx_in(p, x[2], b, pos, &w)) == (x[1] == 4); break;
            case 6: case 7: ok = (pos > 0 && rx_in(p, x[2], b, back_cp(b, pos), &w)) == (x[1] == 6); break;
            default: {
                int before = pos > 0 && rx_in(p, x[2], b, back_cp(b, pos), &w);
                int after = pos < end && rx_in(p, x[2], b, pos, &w);
                ok = (before != after) == (x[1] == 2);
            }
            }
            if (!ok) goto fail;
            pc++;
            continue;
        }
        case RXV_LOOK: { /* flags (1: negative, 2: behind), code points to step back, body, next */
            int64_t s = pos, r = -1;
            int32_t k = 0;
            for (; k < x[2] && s > 0; k++) s = back_cp(b, s);
            if (k == x[2]) {
                *budget = bud;
                r = rxv_run(p, x[3], s, sp, depth + 1, b, end, budget);
                bud = *budget;
                if (r == -2) RXV_RETURN(-2);
            }
            if ((r >= 0) == ((x[1] & 1) != 0)) goto fail;
            pc = x[4];
            continue;
        }
        case RXV_ATOMIC: {
            *budget = bud;
            int64_t r = rxv_run(p, x[1], pos, sp, depth + 1, b, end, budget);
            bud = *budget;
            if (r == -2) RXV_RETURN(-2);
            if (r < 0) goto fail;
            pos = r;
            pc = x[2];
            continue;
        }
        case RXV_ALT: { /* the first alternative the next char allows; an entry for the others */
            uint64_t m = p->alt_tab[x[2]][pos < end ? p->cid[b[pos] < 0x80 ? b[pos] : cp_at(b, pos, &w)] : 256];
            if (!m) goto fail;
            int k = __builtin_ctzll(m);
            m &= m - 1;
            if (m) RXV_PUSH(RXF_ALT, pc, pos, (int64_t)m);
            pc = code[5 * (int64_t)(pc + 1 + k) + 1];
            continue;
        }
        case RXV_SUCCEED:
            RXV_RETURN(pos);
        default:
            RXV_RETURN(-2);
        }
    fail:
        for (;;) {
            if (sp == sp0) RXV_RETURN(-1);
            RxFrame *f = &p->st[sp - 1];
            if (f->kind == RXF_JUMP) { pc = f->pc; pos = f->pos; sp--; break; }
            if (f->kind == RXF_ALT) {
                uint64_t m = (uint64_t)f->aux;
                int k = __builtin_ctzll(m);
                m &= m - 1;
                pc = code[5 * (int64_t)(f->pc + 1 + k) + 1];
                pos = f->pos;
                if (m) f->aux = (int64_t)m; else sp--;
                break;
            }
            if (--bud < 0) RXV_RETURN(-2);
            if (f->kind == RXF_GREEDY) { /* give back one code point */
                int64_t q = back_cp(b, f->pos);
                pc = f->pc;
                pos = q;
                if (q <= f->aux) sp--; else f->pos = q;
                break;
            }
            int64_t q = f->pos; /* RXF_LAZY: take one more */
            if (q < end && rx_in(p, code[5 * (int64_t)f->pc + 1], b, q, &w)) {
                pos = q + w;
                pc = f->pc + 1;
                if (--f->aux == 0) sp--; else f->pos = pos;
                break;
            }
            sp--;
        }
    }
}
#undef RXV_RETURN

static int64_t rxv_next(RxProgram *p, const uint8_t *b, int64_t i, int64_t end, int64_t *budget) {
    for (int64_t j = i; j < end;) {
        int w;
        uint32_t c = b[j] < 0x80 ? (w = 1, b[j]) : cp_at(b, j, &w);
        uint32_t id = p->cid[c];
        if (p->first_row < 0 || ((p->masks[4 * p->first_row + (id >> 6)] >> (id & 63)) & 1)) {
            int64_t r = rxv_run(p, 0, j, 0, 0, b, end, budget);
            if (r == -2) return -2;
            if (r > j) return j == i ? r : j;
        }
        j += w;
    }
    return end;
}

/* a VM program's instructions refer only to its classes and instructions */
static int rxv_check(const int32_t *prog, int64_t n_prog, int64_t n_rows) {
    if (n_prog < 4 || prog[1] < 1 || 4 + 5 * (int64_t)prog[1] > n_prog || prog[2] < -1 || prog[2] >= n_rows)
        return 0;
    int64_t n = prog[1];
    int32_t n_alt = 0;
    const int32_t *code = prog + 4;
    if (code[5 * (n - 1)] != RXV_SUCCEED) return 0;
#define PC_OK(t) ((t) >= 0 && (t) < n)
#define ROW_OK(r) ((r) >= 0 && (r) < n_rows)
    for (int64_t t = 0; t < n; t++) {
        const int32_t *x = code + 5 * t;
        int ok;
        switch (x[0]) {
        case RXV_RUN: ok = ROW_OK(x[1]) && x[2] >= 0 && x[3] >= x[2] && x[4] >= 0 && x[4] <= 2 && t + 1 < n; break;
        case RXV_SPLIT: ok = PC_OK(x[1]) && PC_OK(x[2]); break;
        case RXV_GUARD: ok = ROW_OK(x[1]) && PC_OK(x[2]) && t + 1 < n; break;
        case RXV_JMP: ok = PC_OK(x[1]); break;
        case RXV_ASSERT: ok = x[1] >= 0 && x[1] <= 7 && ROW_OK(x[2]) && t + 1 < n; break;
        case RXV_LOOK: ok = x[1] >= 0 && x[1] <= 3 && x[2] >= 0 && PC_OK(x[3]) && PC_OK(x[4]); break;
        case RXV_ATOMIC: ok = PC_OK(x[1]) && PC_OK(x[2]); break;
        case RXV_SUCCEED: ok = 1; break;
        case RXV_ALT:
            ok = x[1] >= 2 && x[1] <= 64 && x[2] == n_alt++ && t + x[1] < n;
            for (int32_t k = 1; ok && k <= x[1]; k++) {
                const int32_t *y = x + 5 * k;
                ok = y[0] == RXV_ALTPC && PC_OK(y[1]) && y[2] >= -1 && y[2] < n_rows;
            }
            break;
        case RXV_ALTPC: ok = 1; break; /* checked with its ALT; never run (the matcher stops on one) */
        default: ok = 0;
        }
        if (!ok) return 0;
    }
#undef PC_OK
#undef ROW_OK
    /* the ALT tables: after the instructions, 257 uint64 per ALT, each entry naming only its alternatives */
    int64_t at = prog[3];
    if (!n_alt) return at == 0 && n_prog == 4 + 5 * n;
    if (at < 4 + 5 * n || at % 2 || n_prog != at + 514 * (int64_t)n_alt || ((uintptr_t)(prog + at) & 7)) return 0;
    const uint64_t *tab = (const uint64_t *)(prog + at);
    int32_t a = 0;
    for (int64_t t = 0; t < n; t++) {
        if (code[5 * t] != RXV_ALT) continue;
        uint64_t allowed = code[5 * t + 1] == 64 ? ~0ull : (1ull << code[5 * t + 1]) - 1, bad = 0;
        for (int id = 0; id < 257; id++) bad |= tab[257 * a + id] & ~allowed;
        if (bad) return 0;
        a++;
    }
    return 1;
}

static void rx_free(RxProgram *p, Py_buffer views[3]) {
    free(p->st);
    p->st = NULL;

    for (int t = 0; t < 3; t++) PyBuffer_Release(&views[t]);
}

static int rx_program(PyObject *o_cid, PyObject *o_masks, PyObject *o_prog, Py_buffer views[3], RxProgram *p) {
    PyObject *objs[3] = {o_cid, o_masks, o_prog};
    const char *names[3] = {"cid", "masks", "prog"};
    for (int t = 0; t < 3; t++) {
        if (get_buffer(objs[t], &views[t], names[t]) < 0) {
            for (int u = 0; u < t; u++) PyBuffer_Release(&views[u]);
            return -1;
        }
    }
    const int32_t *prog = views[2].buf;
    int64_t n_prog = views[2].len / 4, n_classes = views[1].len / 32;
    p->vm = 0;
    p->st = NULL;
    p->cap = 0;
    p->alt_tab = NULL;
    if (n_prog >= 1 && prog[0] == -1 && views[2].len % 4 == 0) { /* a general VM program */
        if (views[0].len != N_CP || views[1].len % 32 != 0 || !rxv_check(prog, n_prog, n_classes)) {
            for (int t = 0; t < 3; t++) PyBuffer_Release(&views[t]);
            PyErr_SetString(PyExc_ValueError, "regex program: tables do not fit");
            return -1;
        }
        p->vm = 1;
        p->cid = views[0].buf;
        p->masks = views[1].buf;
        p->prog = prog;
        p->code = prog + 4;
        p->n_insn = prog[1];
        p->first_row = prog[2];
        p->alt_tab = prog[3] ? (const uint64_t (*)[257])(prog + prog[3]) : NULL;
        return 0;
    }
    int ok = views[0].len == N_CP && views[1].len % 32 == 0 && views[2].len % 4 == 0 && n_prog >= 2 &&
             prog[0] >= 1 && prog[1] >= prog[0] && 2 + 2 * (int64_t)prog[1] <= n_prog;
    if (ok) {
        int64_t n_items = (n_prog - 2 - 2 * (int64_t)prog[1]) / 4;
        for (int32_t a = 0; ok && a < prog[1]; a++)
            ok = prog[2 + 2 * a] >= 0 && prog[3 + 2 * a] >= 1 && prog[2 + 2 * a] + (int64_t)prog[3 + 2 * a] <= n_items;
        const int32_t *items = prog + 2 + 2 * prog[1];
        for (int64_t t = 0; ok && t < n_items; t++) {
            if (items[4 * t + 3] & RX_OPT) /* optional groups: only the non-top-level alternatives, not nested */
                ok = items[4 * t + 1] >= prog[0] && items[4 * t + 2] >= 1 &&
                     items[4 * t + 1] + (int64_t)items[4 * t + 2] <= prog[1];
            else
                ok = items[4 * t] >= 0 && items[4 * t] < n_classes && items[4 * t + 1] >= 0 &&
                     items[4 * t + 2] >= items[4 * t + 1];
        }
        for (int32_t a = 0; ok && a < prog[1]; a++) { /* an optional group ends a top-level alternative */
            const int32_t *it = items + 4 * prog[2 + 2 * a];
            for (int32_t t = 0; ok && t < prog[3 + 2 * a]; t++)
                if (it[4 * t + 3] & RX_OPT) ok = a < prog[0] && t == prog[3 + 2 * a] - 1;
        }
    }
    if (!ok) {
        for (int t = 0; t < 3; t++) PyBuffer_Release(&views[t]);
        PyErr_SetString(PyExc_ValueError, "regex program: tables do not fit");
        return -1;
    }
    p->cid = views[0].buf;
    p->masks = views[1].buf;
    p->prog = views[2].buf;
    /* first-char sets: the classes of an alternative's leading optional items and of its first required one */
    p->any_first = 0;
    const int32_t *items = prog + 2 + 2 * prog[1];
    for (int32_t a = 0; a < prog[0] && a < RX_FIRST_MAX; a++) {
        const int32_t *it = items + 4 * prog[2 + 2 * a];
        int required = 0;
        memset(p->first[a], 0, sizeof(p->first[a]));
        for (int32_t t = 0; t < prog[3 + 2 * a]; t++) {
            if (it[4 * t + 3] & (RX_OPT | RX_END | RX_LOOK_NEG | RX_LOOK_POS)) break;
            for (int q = 0; q < 4; q++) p->first[a][q] |= p->masks[4 * it[4 * t] + q];
            if (it[4 * t + 1] >= 1) { required = 1; break; }
        }
        if (!required) p->any_first |= 1ull << a;
    }
    return 0;
}

/* encode_regex(text, cid, masks, prog, as_list=True): ids of a text split by a compiled regex program, or None
   when the program backtracks past its budget (the caller then splits with the regex module) */
static PyObject *Encoder_encode_regex(EncoderObject *self, PyObject *args) {
    PyObject *obj, *o_cid, *o_masks, *o_prog;
    int as_list = 1;
    if (!PyArg_ParseTuple(args, "OOOO|p", &obj, &o_cid, &o_masks, &o_prog, &as_list)) return NULL;
    if (!self->m.cls) { PyErr_SetString(PyExc_RuntimeError, "Encoder not initialised"); return NULL; }
    Py_buffer views[3];
    RxProgram p;
    if (rx_program(o_cid, o_masks, o_prog, views, &p) < 0) return NULL;
    const uint8_t *b;
    Py_ssize_t n;
    Py_buffer view;
    int has_view;
    PyObject *res = NULL;
    if (text_bytes(obj, &b, &n, &view, &has_view) < 0) goto out;
    int owned;
    uint32_t *out;
    Cache *cache = take_cache(self, &owned, &out, n);
    if (!cache) { PyErr_NoMemory(); goto done; }
    int64_t i = 0, o = 0, budget = 64 * (int64_t)n + 100000;
    int failed = 0;
    while (i < n) {
        int64_t j = rx_next(&p, b, i, n, &budget);
        if (j < 0) { failed = 1; break; }
        int64_t k = encode_piece(&self->m, cache, b, i, j, n, hot_key(cache, b, i, j, n), out + o);
        if (k < 0) { failed = 2; break; }
        o += k;
        i = j;
    }
    if (failed == 2) PyErr_NoMemory();
    else if (failed) { Py_INCREF(Py_None); res = Py_None; }
    else res = as_list ? ids_to_list(self, out, o) : PyByteArray_FromStringAndSize((const char *)out, o * 4);
    give_cache(self, cache, owned, out);
done:
    if (has_view) PyBuffer_Release(&view);
out:
    rx_free(&p, views);
    return res;
}

/* split_regex(text, cid, masks, prog): byte offsets where a compiled regex program's pieces end, or None */
static PyObject *Encoder_split_regex(EncoderObject *self, PyObject *args) {
    PyObject *obj, *o_cid, *o_masks, *o_prog;
    if (!PyArg_ParseTuple(args, "OOOO", &obj, &o_cid, &o_masks, &o_prog)) return NULL;
    Py_buffer views[3];
    RxProgram p;
    if (rx_program(o_cid, o_masks, o_prog, views, &p) < 0) return NULL;
    const uint8_t *b;
    Py_ssize_t n;
    Py_buffer view;
    int has_view;
    PyObject *list = NULL;
    if (text_bytes(obj, &b, &n, &view, &has_view) == 0) {
        list = PyList_New(0);
        int64_t i = 0, budget = 64 * (int64_t)n + 100000;
        while (list && i < n) {
            int64_t j = rx_next(&p, b, i, n, &budget);
            if (j < 0) { Py_DECREF(list); Py_INCREF(Py_None); list = Py_None; break; }
            PyObject *v = PyLong_FromLongLong(j);
            if (!v || PyList_Append(list, v) < 0) { Py_XDECREF(v); Py_CLEAR(list); break; }
            Py_DECREF(v);
            i = j;
        }
        if (has_view) PyBuffer_Release(&view);
    }
    rx_free(&p, views);
    return list;
}

/* ------------------------------------------------------------------ Python: decode */
/* decode(ids) -> bytes; ids: a list/tuple of ints. Raises IndexError(position) on an unknown id. */
static PyObject *Encoder_decode(EncoderObject *self, PyObject *args) {
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "O", &seq)) return NULL;
    const Model *m = &self->m;
    if (!m->cls) { PyErr_SetString(PyExc_RuntimeError, "Encoder not initialised"); return NULL; }
    PyObject *fast = PySequence_Fast(seq, "decode expects a sequence of ids");
    if (!fast) return NULL;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    uint32_t *ids = malloc((k ? k : 1) * sizeof(uint32_t));
    PyObject *res = NULL;
    if (!ids) { PyErr_NoMemory(); goto done; }
    uint64_t total = 0;
    for (Py_ssize_t t = 0; t < k; t++) {
        PyObject *x = items[t];
        long long v = -1;
        if (PyLong_CheckExact(x) || (PyLong_Check(x) && !PyBool_Check(x))) {
            int overflow;
            v = PyLong_AsLongLongAndOverflow(x, &overflow);
            if (overflow) v = -1;
        }
        if (v < 0 || v >= (long long)m->n_vocab || !m->ok[v]) {
            PyErr_Clear();
            PyErr_SetObject(PyExc_IndexError, PyLong_FromSsize_t(t));
            goto done;
        }
        ids[t] = (uint32_t)v;
        total += m->off[v + 1] - m->off[v];
    }
    res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (!res) goto done;
    {
        char *p = PyBytes_AS_STRING(res);
        for (Py_ssize_t t = 0; t < k; t++) {
            uint64_t a = m->off[ids[t]], l = m->off[ids[t] + 1] - a;
            memcpy(p, m->blob + a, l);
            p += l;
        }
    }
done:
    free(ids);
    Py_DECREF(fast);
    return res;
}

static double thread_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* stage_times(texts, repeat): CPU seconds of (pre-tokenizing only, pre-tokenizing + encoding into a buffer)
   over the texts, best of `repeat` (the piece cache is warm after the first round). The benchmark reports
   these so the time per stage is visible. */
static PyObject *Encoder_stage_times(EncoderObject *self, PyObject *args) {
    PyObject *seq;
    int repeat = 3;
    if (!PyArg_ParseTuple(args, "O|i", &seq, &repeat)) return NULL;
    const Model *m = &self->m;
    if (!m->cls) { PyErr_SetString(PyExc_RuntimeError, "Encoder not initialised"); return NULL; }
    PyObject *fast = PySequence_Fast(seq, "stage_times expects a sequence of texts");
    if (!fast) return NULL;
    Py_ssize_t nd = PySequence_Fast_GET_SIZE(fast);
    double best_split = 1e30, best_encode = 1e30;
    int64_t pieces = 0;
    int owned;
    uint32_t *out;
    int64_t longest = 0;
    for (Py_ssize_t d = 0; d < nd; d++) {
        Py_ssize_t n;
        if (!PyUnicode_Check(PySequence_Fast_GET_ITEM(fast, d)) ||
            !PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(fast, d), &n)) {
            Py_DECREF(fast);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "stage_times expects str texts");
            return NULL;
        }
        if (n > longest) longest = n;
    }
    Cache *cache = take_cache(self, &owned, &out, longest);
    if (!cache) { Py_DECREF(fast); return PyErr_NoMemory(); }
    for (int r = 0; r < repeat; r++) {
        double t0 = thread_seconds();
        pieces = 0;
        for (Py_ssize_t d = 0; d < nd; d++) {
            Py_ssize_t n;
            const uint8_t *b = (const uint8_t *)PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(fast, d), &n);
            int64_t i = 0;
            while (i < n) {
                int64_t ce = chunk_end(m->cls, b, i, n, m->split_digits);
                while (i < ce) {
                    int64_t ends[PIECE_BATCH];
                    int np = fill_ends(m, b, i, ce, n, ends, PIECE_BATCH);
                    pieces += np;
                    i = ends[np - 1];
                }
            }
        }
        double t1 = thread_seconds();
        for (Py_ssize_t d = 0; d < nd; d++) {
            Py_ssize_t n;
            const uint8_t *b = (const uint8_t *)PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(fast, d), &n);
            encode_text(m, cache, b, n, out);
        }
        double t2 = thread_seconds();
        if (t1 - t0 < best_split) best_split = t1 - t0;
        if (t2 - t1 < best_encode) best_encode = t2 - t1;
    }
    give_cache(self, cache, owned, out);
    Py_DECREF(fast);
    return Py_BuildValue("ddL", best_split, best_encode, (long long)pieces);
}

static PyMethodDef Encoder_methods[] = {
    {"stage_times", (PyCFunction)Encoder_stage_times, METH_VARARGS,
     "stage_times(texts, repeat=3): (split seconds, split+encode seconds, pieces)"},
    {"encode", (PyCFunction)Encoder_encode, METH_VARARGS, "encode(text, as_list=True): ids of one text"},
    {"encode_batch", (PyCFunction)Encoder_encode_batch, METH_VARARGS,
     "encode_batch(texts, num_threads, as_list=True): ids per text"},
    {"split", (PyCFunction)Encoder_split, METH_VARARGS, "split(data): byte offsets where pieces end"},
    {"encode_regex", (PyCFunction)Encoder_encode_regex, METH_VARARGS,
     "encode_regex(text, cid, masks, prog, as_list=True): ids of a text split by a compiled regex, or None"},
    {"split_regex", (PyCFunction)Encoder_split_regex, METH_VARARGS,
     "split_regex(text, cid, masks, prog): byte offsets where the compiled regex's pieces end, or None"},
    {"encode_split", (PyCFunction)Encoder_encode_split, METH_VARARGS,
     "encode_split(text, pieces, as_list=True): ids of a text cut into pieces (strs) already"},
    {"decode", (PyCFunction)Encoder_decode, METH_VARARGS, "decode(ids): token bytes joined"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenlab.kernels._bpe.Encoder",
    .tp_basicsize = sizeof(EncoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Compiled byte-level BPE tables for one tokenizer",
    .tp_new = Encoder_new,
    .tp_init = (initproc)Encoder_init,
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_methods = Encoder_methods,
};

/* cpu_has_avx512(): whether this CPU (and OS) runs the _bpe_avx512 build of this file */
static PyObject *cpu_has_avx512(PyObject *self, PyObject *noargs) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return PyBool_FromLong(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                           && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt"));
#else
    Py_RETURN_FALSE;
#endif
}

static PyMethodDef bpe_functions[] = {
    {"cpu_has_avx512", cpu_has_avx512, METH_NOARGS, "whether this CPU runs the AVX-512 build of the kernel"},
    {"malloc_kept", py_malloc_kept, METH_NOARGS, "whether building results set glibc's malloc thresholds"},
    {NULL, NULL, 0, NULL},
};

/* _bpe_avx512.c compiles this file again under its own module name */
#ifndef BPE_MODULE_NAME
#define BPE_MODULE_NAME "_bpe"
#define BPE_MODULE_INIT PyInit__bpe
#endif
static struct PyModuleDef bpe_module = {PyModuleDef_HEAD_INIT, BPE_MODULE_NAME, "Byte-level BPE kernel", -1,
                                        bpe_functions};

PyMODINIT_FUNC BPE_MODULE_INIT(void) {
    if (PyType_Ready(&EncoderType) < 0) return NULL;
    PyObject *mod = PyModule_Create(&bpe_module);
    if (!mod) return NULL;
    Py_INCREF(&EncoderType);
    if (PyModule_AddObject(mod, "Encoder", (PyObject *)&EncoderType) < 0) {
        Py_DECREF(&EncoderType);
        Py_DECREF(mod);
        return NULL;
    }
    PyModule_AddIntConstant(mod, "NO_RANK", NO_RANK);
#if defined(__AVX512BW__)
    PyModule_AddIntConstant(mod, "AVX512", 1);
#else
    PyModule_AddIntConstant(mod, "AVX512", 0);
#endif
    return mod;
}
