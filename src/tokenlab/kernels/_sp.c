/* SentencePiece encode kernel: normalizer, BPE by piece score, Unigram Viterbi in float32.
 *
 * Built from flat lists (piece bytes, ids, scores, user-defined pieces, byte-fallback ids, the
 * precompiled character map) by tokenlab.models.sentencepiece, whose pure-Python code it follows
 * step for step (tests compare the two and sentencepiece itself):
 *   - normalizer: user-defined pieces first, then the longest key of the darts-clone character map,
 *     else one character; leading/extra spaces dropped, dummy prefix, spaces escaped as U+2581;
 *   - BPE: join the adjacent pair whose joined piece scores highest (leftmost on ties); user-defined
 *     pieces never join; words (U+2581 run + the rest) are cached when no piece spans a word start;
 *   - Unigram: the Viterbi of sentencepiece's EncodeOptimized, path scores rounded to float32 after
 *     every addition and re-based beyond +-100000, first candidate kept on ties;
 *   - unknown pieces become their bytes (byte fallback) or one unknown id per run.
 * Why it is fast: pieces in one open-addressing table (BPE) or a double-array trie (Unigram), no Python
 * objects until the id list (one shared int object per id), and a cache of whole words: BPE ids; Unigram
 * ids, node scores and the range of start scores where the float32 run takes the cached path. A BPE word of
 * thousands of symbols (nothing splits a 100 KB word without spaces) queues its joins as 8-byte keys: the
 * first pairs radix-sorted, then ascending runs and a radix heap, no binary heap's cache misses per join.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SCORE_RESET 100000.0
#define CACHE_MAX_ENTRIES (1u << 18)
#define CACHE_MAX_WORD 256
#define CACHE_MAX_IDS (1u << 22)
#ifndef SPLIT_CACHE
#define SPLIT_CACHE 1
#endif

typedef struct { uint32_t off, len; int32_t id; float score; } Piece;
typedef struct { uint8_t *p; size_t n, cap; } Bytes;
typedef struct { int32_t *p; size_t n, cap; } Ints;
/* a cached BPE word: its ids (Unigram words are URec records in their own arena) */
typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len, ids_off, n_ids;
} CacheEntry;
typedef struct { uint32_t tag, idx; } Slot;  /* word cache index: hash tag, entry + 1 (0 = empty) */
typedef struct { uint64_t key; uint32_t joined, pad; } PairSlot;
/* a double-array trie node: its children's base, its parent (-1: a free slot), and the piece ending here */
typedef struct { int32_t base, check, id; float score; } DANode;

static int reserve(void **p, size_t *cap, size_t need, size_t item) {
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) cap2 *= 2;
    void *q = realloc(*p, cap2 * item);
    if (!q) return -1;
    *p = q;
    *cap = cap2;
    return 0;
}
#define BYTES_RESERVE(b, extra) reserve((void **)&(b)->p, &(b)->cap, (b)->n + (extra), 1)
#define INTS_RESERVE(b, extra) reserve((void **)&(b)->p, &(b)->cap, (b)->n + (extra), sizeof(int32_t))

static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

/* the whole eight-byte words of s[0..n), one multiply each; the hashes below add the last n % 8 bytes and
   murmur3's finalizer (mix64) */
static inline uint64_t hash_words(const uint8_t *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull), v;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 31;
    }
    return h;
}

static inline uint64_t hash_bytes(const uint8_t *s, size_t n) {
    uint64_t h = hash_words(s, n), v = 0;
    memcpy(&v, s + (n & ~(size_t)7), n & 7);
    return mix64((h ^ v) * 0xc4ceb9fe1a85ec53ull);
}

/* hash_bytes(s, n) when 8 bytes past s[n] may be read (the normalized text's buffer keeps that slack) */
static inline uint64_t hash_padded(const uint8_t *s, size_t n) {
    uint64_t h = hash_words(s, n), v;
    size_t r = n & 7;
    memcpy(&v, s + (n & ~(size_t)7), 8);
    v = r ? v & (~0ull >> (64 - 8 * r)) : 0;  /* little-endian: the first r bytes, as hash_bytes reads them */
    return mix64((h ^ v) * 0xc4ceb9fe1a85ec53ull);
}

static inline size_t utf8_len(const uint8_t *s, size_t pos, size_t n) {
    uint8_t c = s[pos];
    size_t k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    return pos + k <= n ? k : n - pos;
}

static inline int is_mark(const uint8_t *s, size_t pos, size_t n) { /* U+2581 */
    return pos + 3 <= n && s[pos] == 0xE2 && s[pos + 1] == 0x96 && s[pos + 2] == 0x81;
}

typedef struct {
    PyObject_HEAD
    int unigram, byte_fallback, add_dummy, remove_extra, escape, suffix, cache_words;
    int32_t unk_id, byte_ids[256];
    float unk_score;
    double max_abs_score;   /* largest |score| of a lattice piece or of the unknown piece */
    uint8_t *blob;          /* piece bytes, then user-defined piece bytes */
    Piece *pieces;
    uint32_t n_pieces;
    uint32_t *slots, mask;  /* piece index + 1 by hash of its bytes; 0 = empty */
    DANode *da;             /* Unigram pieces as a double-array trie: child of s by byte c at da[s].base + c */
    size_t da_cap;
    int32_t root_child[256]; /* the trie's first level as an array (-1: no piece starts with the byte) */
    PyObject **id_objs;     /* one int object per id up to max_id: the output list shares them */
    int32_t n_id_objs;
    float *lat_best;        /* Unigram lattice scratch, reused between calls */
    int32_t *lat_start, *lat_pid;
    size_t lat_cap;
    PairSlot *pairs;        /* BPE joins: (left code << 32 | right code) + 1 -> piece index; key 0 = empty */
    uint32_t pmask;
    uint32_t *bmp_code;     /* symbol code of each code point below U+10000 (one load per character) */
    uint32_t *ascii_join;   /* the piece two ASCII characters join into (a << 7 | b), or NO_CODE: a word's first
                             * pairs without the join table's cache misses */
    uint64_t *astral_bits;  /* by hash of the code point, the characters beyond U+FFFF some piece holds: any
                             * other one is no symbol code without hashing its bytes (random code points) */
    uint64_t *ckeys;        /* characters that are no piece but part of one: (len << 32 | bytes) + 1 */
    uint32_t *cvals, cmask, n_chars;
    Piece *user;            /* user-defined pieces, longest first */
    uint32_t n_user;
    uint8_t user_first[256];
    uint8_t plain_before_ascii[256]; /* ASCII bytes copied as they are when an ASCII byte (or the end) follows */
    uint8_t plain[256];
    uint8_t run_class[256];  /* 1: plain; 2: plain when an ASCII byte (or the end) follows; 0: neither */
    uint64_t *same_bits, *base_bits; /* code points below U+10000 the map leaves alone (always / before ASCII) */
    uint64_t *multi_bits;   /* Unigram: code points below U+10000 that some piece of two or more characters holds */
    int astral_multi;       /* whether such a piece holds a code point beyond U+FFFF */
    uint8_t space_unit[256]; /* ASCII bytes that normalize to one space: 1 always, 2 when an ASCII byte (or the end)
                              * follows */
    int32_t *cp_base;       /* the same when an ASCII byte follows (CP_ANY if a key goes on with one) */
    int32_t *cp_unit;       /* with a map: CP_SAME, CP_ANY or the replacement of each code point below U+10000 */     /* bytes the normalizer copies as they are: no space, no user piece or map key starts */
    uint32_t *units;        /* character map: darts-clone units and NUL-terminated replacements */
    Py_ssize_t n_units;
    uint8_t *strings;
    Py_ssize_t n_strings;
    CacheEntry *cache;      /* word cache: entries in insertion order, indexed by cslots */
    size_t cache_cap;
    Slot *cslots;
    uint32_t cslot_mask;
    uint32_t cache_n;
    Bytes cache_keys;
    Ints cache_ids;
    Bytes uarena;           /* Unigram: the word cache's records (URec) */
    long long hits, misses, exact;
    Bytes norm_buf;         /* reused between calls (the GIL is held): no page faults for big buffers */
    Ints ids_buf, tmp_buf;
    void *scratch;          /* Scratch of the BPE merges */
} SPModel;

/* ------------------------------------------------------------------ tables */
static const Piece *find_piece(const SPModel *m, const uint8_t *s, size_t n) {
    uint64_t h = hash_bytes(s, n);
    for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
        uint32_t k = m->slots[i];
        if (!k) return NULL;
        const Piece *p = &m->pieces[k - 1];
        if (p->len == n && memcmp(m->blob + p->off, s, n) == 0) return p;
    }
}

static inline int32_t trie_child(const SPModel *m, int32_t node, uint8_t c) {
    int32_t t = m->da[node].base + c;
    return m->da[t].check == node ? t : -1;
}

typedef struct { const uint8_t *s; uint32_t len, idx; } SortedPiece;

static int sorted_piece_cmp(const void *a, const void *b) {
    const SortedPiece *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Building the double array: free slots are kept in a doubly linked list (next/prev, -1 ends it), so a node's
 * base is searched among free slots only, not slot by slot (first fit, as darts-clone does) */
typedef struct { int32_t *next, *prev; int32_t head; size_t cap; } FreeList;

static int da_reserve(SPModel *m, FreeList *fl, size_t need) {
    if (need <= m->da_cap) return 0;
    size_t old = m->da_cap, cap = m->da_cap ? m->da_cap : 1024;
    while (cap < need) cap *= 2;
    if (cap > (size_t)INT32_MAX) return -1;
    DANode *d = realloc(m->da, cap * sizeof(DANode));
    if (!d) return -1;
    m->da = d;
    int32_t *nx = realloc(fl->next, cap * sizeof(int32_t)), *pv = nx ? realloc(fl->prev, cap * sizeof(int32_t)) : NULL;
    if (nx) fl->next = nx;
    if (!nx || !pv) return -1;
    fl->prev = pv;
    for (size_t k = old; k < cap; k++) d[k].base = 0, d[k].check = -1, d[k].id = -1, d[k].score = 0.0f;
    /* append the new slots (slot 0, the root, is never free) to the end of the list */
    int32_t tail = -1;
    if (fl->head >= 0) {
        tail = fl->head;
        while (fl->next[tail] >= 0) tail = fl->next[tail];  /* only on growth: rare */
    }
    for (size_t k = old ? old : 1; k < cap; k++) {
        fl->prev[k] = tail;
        fl->next[k] = -1;
        if (tail >= 0) fl->next[tail] = (int32_t)k;
        else fl->head = (int32_t)k;
        tail = (int32_t)k;
    }
    m->da_cap = cap;
    return 0;
}

static void da_take(SPModel *m, FreeList *fl, size_t slot, int32_t parent) {
    m->da[slot].check = parent;
    int32_t nx = fl->next[slot], pv = fl->prev[slot];
    if (pv >= 0) fl->next[pv] = nx;
    else fl->head = nx;
    if (nx >= 0) fl->prev[nx] = pv;
}

/* place node s whose pieces are sp[lo:hi) (all sharing their first `depth` bytes): its own piece, then a base
 * where every child's slot is free (first fit over the free slots), then each child in turn */
static int da_place(SPModel *m, FreeList *fl, const SortedPiece *sp, size_t lo, size_t hi, uint32_t depth,
                    int32_t s) {
    while (lo < hi && sp[lo].len == depth) {  /* a repeated piece string: the last index wins, as before */
        m->da[s].id = m->pieces[sp[lo].idx].id;
        m->da[s].score = m->pieces[sp[lo].idx].score;
        lo++;
    }
    if (lo == hi) return 0;
    uint8_t labels[256];
    size_t n_labels = 0;
    for (size_t k = lo; k < hi; k++)
        if (!n_labels || labels[n_labels - 1] != sp[k].s[depth]) labels[n_labels++] = sp[k].s[depth];
    size_t b = 0;
    for (int32_t f = fl->head;; f = fl->next[f]) {
        if (f < 0) {  /* no fit among the free slots: past the end */
            b = m->da_cap > labels[0] ? m->da_cap - labels[0] : 1;
            if (b < 1) b = 1;
            if (da_reserve(m, fl, b + 257)) return -1;
            break;
        }
        if ((size_t)f <= labels[0]) continue;
        b = (size_t)f - labels[0];
        if (da_reserve(m, fl, b + 257)) return -1;
        size_t k = 1;
        while (k < n_labels && m->da[b + labels[k]].check == -1) k++;
        if (k == n_labels) break;
    }
    m->da[s].base = (int32_t)b;
    for (size_t k = 0; k < n_labels; k++) da_take(m, fl, b + labels[k], s);
    for (size_t k = lo; k < hi;) {
        size_t e = k;
        while (e < hi && sp[e].s[depth] == sp[k].s[depth]) e++;
        if (da_place(m, fl, sp, k, e, depth + 1, (int32_t)(b + sp[k].s[depth]))) return -1;
        k = e;
    }
    return 0;
}

static int trie_build(SPModel *m) {
    SortedPiece *sp = malloc(((size_t)m->n_pieces + 1) * sizeof(SortedPiece));
    FreeList fl = {NULL, NULL, -1, 0};
    int rc = -1;
    if (!sp || da_reserve(m, &fl, 2 * (size_t)m->n_pieces + 1024)) goto done;
    for (uint32_t p = 0; p < m->n_pieces; p++)
        sp[p] = (SortedPiece){m->blob + m->pieces[p].off, m->pieces[p].len, p};
    qsort(sp, m->n_pieces, sizeof(SortedPiece), sorted_piece_cmp);
    m->da[0].check = -2;  /* the root: not free, nobody's child */
    if (da_place(m, &fl, sp, 0, m->n_pieces, 0, 0)) goto done;
    for (int c = 0; c < 256; c++) m->root_child[c] = trie_child(m, 0, (uint8_t)c);
    rc = 0;
done:
    free(sp); free(fl.next); free(fl.prev);
    return rc;
}

/* Codes of BPE symbols: a piece's index, n_pieces + k for the k-th character that is no piece but part of
 * one, NO_CODE for any other character (it joins nothing). */
#define NO_CODE 0xFFFFFFFFu

static inline uint64_t char_key(const uint8_t *s, size_t len) {
    uint64_t k = (uint64_t)len << 32;
    for (size_t i = 0; i < len; i++) k |= (uint64_t)s[i] << (8 * (3 - i));
    return k + 1;
}

static uint32_t char_code(const SPModel *m, const uint8_t *s, size_t len, int insert) {
    uint64_t key = char_key(s, len);
    uint32_t i = (uint32_t)(mix64(key) >> 32) & m->cmask;
    for (;; i = (i + 1) & m->cmask) {
        if (m->ckeys[i] == key) return m->cvals[i];
        if (!m->ckeys[i]) break;
    }
    if (!insert) return NO_CODE;
    SPModel *w = (SPModel *)m;
    w->ckeys[i] = key;
    w->cvals[i] = m->n_pieces + w->n_chars++;
    return m->cvals[i];
}

static inline uint32_t pair_find(const SPModel *m, uint32_t left, uint32_t right) {
    uint64_t key = (((uint64_t)left << 32) | right) + 1;
    for (uint32_t i = (uint32_t)(mix64(key) >> 32) & m->pmask;; i = (i + 1) & m->pmask) {
        uint64_t k = m->pairs[i].key;
        if (k == key) return m->pairs[i].joined;
        if (!k) return NO_CODE;
    }
}

/* the code of one symbol's bytes (a piece, or a single character) */
static uint32_t symbol_code(const SPModel *m, const uint8_t *s, size_t len, int insert) {
    const Piece *p = find_piece(m, s, len);
    if (p) return (uint32_t)(p - m->pieces);
    return utf8_len(s, 0, len) == len ? char_code(m, s, len, insert) : NO_CODE;
}

#define ASTRAL_BITS 65536

/* a 4-byte UTF-8 character's bit in astral_bits */
static inline uint32_t astral_hash(const uint8_t *c) {
    uint32_t cp = (uint32_t)(c[0] & 0x07) << 18 | (uint32_t)(c[1] & 0x3F) << 12 | (uint32_t)(c[2] & 0x3F) << 6
                  | (c[3] & 0x3F);
    return (cp * 0x9E3779B1u) >> 16;
}

/* every split of every piece into two symbols: what BPE may join, without hashing bytes while encoding */
static int pairs_build(SPModel *m) {
    size_t splits = 0;
    for (uint32_t p = 0; p < m->n_pieces; p++) {
        const uint8_t *s = m->blob + m->pieces[p].off;
        size_t len = m->pieces[p].len;
        for (size_t k = utf8_len(s, 0, len); k < len; k += utf8_len(s, k, len)) splits++;
    }
    uint32_t cap = 1;
    while (cap < 2 * splits + 2) cap <<= 1;
    m->pmask = m->cmask = cap - 1;
    m->pairs = calloc(cap, sizeof(PairSlot));
    m->ckeys = calloc(cap, sizeof(uint64_t));
    m->cvals = malloc(cap * sizeof(uint32_t));
    m->bmp_code = malloc(0x10000 * sizeof(uint32_t));
    if (!m->pairs || !m->ckeys || !m->cvals || !m->bmp_code) return -1;
    for (uint32_t p = 0; p < m->n_pieces; p++) {
        const uint8_t *s = m->blob + m->pieces[p].off;
        size_t len = m->pieces[p].len;
        for (size_t k = utf8_len(s, 0, len); k < len; k += utf8_len(s, k, len)) {
            uint32_t a = symbol_code(m, s, k, 1), b = symbol_code(m, s + k, len - k, 1);
            if (a == NO_CODE || b == NO_CODE) continue;
            uint64_t key = (((uint64_t)a << 32) | b) + 1;
            uint32_t i = (uint32_t)(mix64(key) >> 32) & m->pmask;
            while (m->pairs[i].key && m->pairs[i].key != key) i = (i + 1) & m->pmask;
            if (!m->pairs[i].key) {  /* a repeated piece string keeps its first index, as find_piece does */
                m->pairs[i].key = key;
                m->pairs[i].joined = (uint32_t)(find_piece(m, s, len) - m->pieces);
            }
        }
    }
    for (uint32_t cp = 0; cp < 0x10000; cp++) {
        uint8_t u[3];
        size_t len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
        if (len == 1) u[0] = (uint8_t)cp;
        else if (len == 2) u[0] = (uint8_t)(0xC0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 0x3F));
        else u[0] = (uint8_t)(0xE0 | cp >> 12), u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)),
             u[2] = (uint8_t)(0x80 | (cp & 0x3F));
        m->bmp_code[cp] = symbol_code(m, u, len, 0);
    }
    if (!(m->astral_bits = calloc(ASTRAL_BITS / 64, sizeof(uint64_t)))) return -1;
    for (uint32_t p = 0; p < m->n_pieces; p++) {
        const uint8_t *c = m->blob + m->pieces[p].off;
        size_t len = m->pieces[p].len;
        for (size_t k = 0; k < len; k += utf8_len(c, k, len))
            if (c[k] >= 0xF0 && k + 4 <= len) {
                uint32_t h = astral_hash(c + k);
                m->astral_bits[h / 64] |= 1ull << (h % 64);
            }
    }
    if (!(m->ascii_join = malloc(128 * 128 * sizeof(uint32_t)))) return -1;
    for (uint32_t a = 0; a < 128; a++)
        for (uint32_t b = 0; b < 128; b++) {
            uint32_t ca = m->bmp_code[a], cb = m->bmp_code[b];
            m->ascii_join[a << 7 | b] = ca == NO_CODE || cb == NO_CODE ? NO_CODE : pair_find(m, ca, cb);
        }
    return 0;
}

/* longest user-defined piece at s[pos:], its length or 0 */
static inline size_t user_match(const SPModel *m, const uint8_t *s, size_t pos, size_t n) {
    if (!m->user_first[s[pos]]) return 0;
    for (uint32_t u = 0; u < m->n_user; u++) {
        const Piece *p = &m->user[u];
        if (p->len <= n - pos && memcmp(m->blob + p->off, s + pos, p->len) == 0) return p->len;
    }
    return 0;
}

/* darts-clone longest common prefix of s[pos:] in the character map: matched length, *value = string offset */
static size_t charsmap_match(const SPModel *m, const uint8_t *s, size_t pos, size_t n, uint32_t *value) {
    const uint32_t *units = m->units;
    Py_ssize_t size = m->n_units;
    uint32_t unit = units[0];
    uint64_t node = (uint64_t)(unit >> 10) << ((unit & (1u << 9)) >> 6);
    size_t best = 0;
    for (size_t i = pos; i < n; i++) {
        uint8_t c = s[i];
        node ^= c;
        if (node >= (uint64_t)size) break;
        unit = units[node];
        if ((unit & ((1u << 31) | 0xFFu)) != c) break;
        node ^= (uint64_t)(unit >> 10) << ((unit & (1u << 9)) >> 6);
        if ((unit >> 8) & 1) {
            if (node >= (uint64_t)size) break;
            best = i - pos + 1;
            *value = units[node] & ((1u << 31) - 1);
        }
    }
    return best;
}

#define CP_SAME (-1)  /* cp_unit: the character stays */
#define CP_ANY (-2)   /* cp_unit: a key continues past the character: walk the map */

static inline uint32_t bmp_code_point(const uint8_t *c, size_t k) {
    return k == 1 ? c[0] : k == 2 ? (uint32_t)(c[0] & 0x1F) << 6 | (c[1] & 0x3F)
         : k == 3 ? (uint32_t)(c[0] & 0x0F) << 12 | (uint32_t)(c[1] & 0x3F) << 6 | (c[2] & 0x3F) : 0x10000;
}

/* cp_unit of one code point: walk its UTF-8 bytes; no key starts with them -> CP_SAME; a key ends there and
 * none goes on -> its replacement's offset; no key ends there and none goes on -> CP_SAME; else CP_ANY */
static int32_t code_point_unit(const SPModel *m, uint32_t cp, int32_t *base) {
    uint8_t u[3];
    size_t len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
    if (len == 1) u[0] = (uint8_t)cp;
    else if (len == 2) u[0] = (uint8_t)(0xC0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 0x3F));
    else u[0] = (uint8_t)(0xE0 | cp >> 12), u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)),
         u[2] = (uint8_t)(0x80 | (cp & 0x3F));
    const uint32_t *units = m->units;
    uint64_t size = (uint64_t)m->n_units;
    uint32_t unit = units[0];
    uint64_t node = (uint64_t)(unit >> 10) << ((unit & (1u << 9)) >> 6);
    int32_t value = CP_SAME;
    *base = CP_ANY;
    for (size_t i = 0; i < len; i++) {
        node ^= u[i];
        if (node >= size) return *base = CP_SAME;
        unit = units[node];
        if ((unit & ((1u << 31) | 0xFFu)) != u[i]) return *base = CP_SAME;
        node ^= (uint64_t)(unit >> 10) << ((unit & (1u << 9)) >> 6);
        if ((unit >> 8) & 1) {
            if (node >= size) return CP_ANY;
            if (i + 1 < len) return CP_ANY;  /* a key ends inside the character: leave it to the walk */
            value = (int32_t)(units[node] & ((1u << 31) - 1));
            if (value >= m->n_strings) return CP_ANY;
        }
    }
    int32_t result = value;
    *base = value;
    for (uint32_t label = 1; label < 256; label++) {
        uint64_t child = node ^ label;
        if (child < size && (units[child] & ((1u << 31) | 0xFFu)) == label) {
            result = CP_ANY;
            if (label < 0x80) *base = CP_ANY;  /* keys go on with an ASCII byte too */
        }
    }
    return result;
}

/* the replacement of the character (code point cp, k bytes) at s[pos]: CP_SAME, a string offset, or CP_ANY
 * (walk the map); a key that goes on past it only with non-ASCII bytes cannot when an ASCII byte follows */
static inline int32_t char_unit(const SPModel *m, const uint8_t *s, size_t pos, size_t n, size_t k, uint32_t cp) {
    if (cp >= 0x10000) return CP_ANY;
    int32_t v = m->cp_unit[cp];
    if (v == CP_ANY && m->cp_base[cp] != CP_ANY && (pos + k >= n || s[pos + k] < 0x80)) v = m->cp_base[cp];
    return v;
}

/* whether some key of the character map starts with byte c (its first transition exists) */
static int starts_key(const SPModel *m, uint8_t c) {
    uint32_t unit = m->units[0];
    uint64_t node = ((uint64_t)(unit >> 10) << ((unit & (1u << 9)) >> 6)) ^ c;
    if (node >= (uint64_t)m->n_units) return 0;
    return (m->units[node] & ((1u << 31) | 0xFFu)) == c;
}

/* ------------------------------------------------------------------ normalizer */
static int append_unit(const SPModel *m, Bytes *out, const uint8_t *u, size_t len) {
    if (BYTES_RESERVE(out, 3 * len)) return -1;
    for (size_t k = 0; k < len; k++) {
        if (u[k] == ' ' && m->escape) {
            out->p[out->n++] = 0xE2;
            out->p[out->n++] = 0x96;
            out->p[out->n++] = 0x81;
        } else {
            out->p[out->n++] = u[k];
        }
    }
    return 0;
}

static int normalize(const SPModel *m, const uint8_t *s, size_t n, Bytes *out) {
    out->n = 0;
    int leading = m->remove_extra, prev_space = m->remove_extra, any = 0;
    size_t pos = 0;
    while (pos < n) {
        uint8_t su = m->space_unit[s[pos]];
        if (su && (su == 1 || s[pos + 1] < 0x80)) {  /* spaces: as the general path below does */
            pos++;
            if (leading) continue;
            if (!any) {
                any = 1;
                if (m->add_dummy && !m->suffix && append_unit(m, out, (const uint8_t *)" ", 1)) return -1;
            }
            if (!prev_space) {
                if (BYTES_RESERVE(out, 3)) return -1;
                if (m->escape) {
                    out->p[out->n++] = 0xE2;
                    out->p[out->n++] = 0x96;
                    out->p[out->n++] = 0x81;
                } else {
                    out->p[out->n++] = ' ';
                }
                prev_space = m->remove_extra;
            }
            if (prev_space)  /* the spaces right after it are dropped */
                while (pos < n && (su = m->space_unit[s[pos]]) && (su == 1 || s[pos + 1] < 0x80)) pos++;
            continue;
        }
        size_t end = pos;
        /* a run of characters the map leaves alone, neither spaces nor user-defined starts. s[n] is the NUL
         * Python keeps after UTF-8: read as an ASCII byte, as the end counts. First 8 ASCII bytes at a time: */
        while (end + 8 <= n) {
            uint64_t x;
            memcpy(&x, s + end, 8);
            if (x & 0x8080808080808080ull) break;
            unsigned stop = 0;
            for (int k = 0; k < 8; k++) stop |= (unsigned)(m->run_class[s[end + k]] == 0) << k;
            if (s[end + 8] >= 0x80 && m->run_class[s[end + 7]] == 2) stop |= 0x80u;
            if (stop) {
                end += (size_t)__builtin_ctz(stop);
                goto run_end;  /* an ASCII byte that ends the run */
            }
            end += 8;
        }
        for (;;) {
            if (end >= n) break;
            uint8_t c = s[end], cls = m->run_class[c];
            if (cls & (1 | (s[end + 1] < 0x80) << 1)) {
                end++;
            } else if (c >= 0xC0 && m->cp_unit && !m->user_first[c]) {
                size_t k = utf8_len(s, end, n);
                uint32_t cp = bmp_code_point(s + end, k);
                if (cp >= 0x10000) break;
                uint64_t bit = 1ull << (cp & 63);
                if (!(m->same_bits[cp >> 6] & bit) && !((m->base_bits[cp >> 6] & bit) && s[end + k] < 0x80)) break;
                end += k;
            } else {
                break;
            }
        }
    run_end:
        if (end > pos) {
            while (end < n && (s[end] & 0xC0) == 0x80) end++;
            leading = 0;
            if (!any) {
                any = 1;
                if (m->add_dummy && !m->suffix && append_unit(m, out, (const uint8_t *)" ", 1)) return -1;
            }
            size_t len = end - pos;
            if (BYTES_RESERVE(out, len + 8)) return -1;
            uint8_t *o = out->p + out->n;
            const uint8_t *q = s + pos;
            out->n += len;
            for (; len >= 8; len -= 8, o += 8, q += 8) memcpy(o, q, 8);
            while (len--) *o++ = *q++;
            prev_space = 0;
            pos = end;
            continue;
        }
        const uint8_t *u = s + pos;
        size_t len = user_match(m, s, pos, n), consumed = len;
        if (!len && m->cp_unit) {  /* a character whose replacement does not depend on what follows */
            size_t k = utf8_len(s, pos, n);
            int32_t v = char_unit(m, s, pos, n, k, bmp_code_point(s + pos, k));
            if (v == CP_SAME) {
                consumed = len = k;
            } else if (v >= 0) {
                consumed = k;
                u = m->strings + v;
                len = strlen((const char *)u);
                if (!len) {  /* the character is dropped: as an empty unit */
                    pos += consumed;
                    if (leading) leading = 0;
                    if (!any) {
                        any = 1;
                        if (m->add_dummy && !m->suffix && append_unit(m, out, (const uint8_t *)" ", 1)) return -1;
                    }
                    if (!m->remove_extra) prev_space = 0;
                    continue;
                }
            }
        }
        if (!len && m->units) {
            uint32_t value = 0;
            consumed = charsmap_match(m, s, pos, n, &value);
            if (consumed) {
                if ((Py_ssize_t)value >= m->n_strings) return -2;
                u = m->strings + value;
                len = strlen((const char *)u);
            }
        }
        if (!consumed) consumed = len = utf8_len(s, pos, n);
        pos += consumed;
        if (leading) {
            if (len == 1 && u[0] == ' ') continue;
            leading = 0;
        }
        if (!any) {
            any = 1;
            if (m->add_dummy && !m->suffix && append_unit(m, out, (const uint8_t *)" ", 1)) return -1;
        }
        if (prev_space)
            while (len && u[0] == ' ') u++, len--;
        if (len) {
            if (append_unit(m, out, u, len)) return -1;
            prev_space = u[len - 1] == ' ';
        }
        if (!m->remove_extra) prev_space = 0;
    }
    if (BYTES_RESERVE(out, 8 + 3)) return -1;  /* 8 bytes of slack past the text for hash_padded */
    if (!any) return 0;
    if (m->remove_extra) {
        if (m->escape)
            while (out->n >= 3 && is_mark(out->p, out->n - 3, out->n)) out->n -= 3;
        else
            while (out->n && out->p[out->n - 1] == ' ') out->n--;
    }
    if (m->suffix && m->add_dummy) return append_unit(m, out, (const uint8_t *)" ", 1);
    return 0;
}

/* ------------------------------------------------------------------ fallback */
static int emit_unknown(const SPModel *m, const uint8_t *s, size_t len, Ints *out) {
    if (m->byte_fallback) {
        if (INTS_RESERVE(out, len)) return -1;
        for (size_t k = 0; k < len; k++) out->p[out->n++] = m->byte_ids[s[k]];
        return 0;
    }
    if (out->n && out->p[out->n - 1] == m->unk_id) return 0;
    if (INTS_RESERVE(out, 1)) return -1;
    out->p[out->n++] = m->unk_id;
    return 0;
}

/* ------------------------------------------------------------------ BPE */
/* A join candidate is one 64-bit key: the joined piece's score order (ascending as the score descends) over the
 * left symbol's index, so the smallest key is the highest score, then the leftmost. A key is checked when it
 * is taken: the pair now at its left symbol must join into a piece of the same score (else the key is stale:
 * a side was joined elsewhere since). Taking a key whose pair changed but still scores the same is the same
 * step as taking the key that pair was queued with: both are the smallest key, and equal. */
typedef struct { uint64_t *p; size_t n, cap; } Keys;
#define RUNS 8

typedef struct {
    int32_t *start, *len, *prev, *next;
    uint32_t *code;
    uint8_t *frozen;
    uint64_t *rkey;   /* the key of the pair a symbol starts (UINT64_MAX: it joins nothing), kept current */
    uint32_t *rjoin;  /* and the piece that pair joins into: a key is checked without the join table */
    size_t cap;
    Keys heap;       /* binary min-heap: the queue of a word of up to RADIX_MIN symbols; for longer words only
                      * the keys below `last` (a join may score higher than the one just made) */
    /* words of more than RADIX_MIN symbols: the first pairs' keys sorted (init, read from init_at), and a
     * radix heap (Ahuja, Mehlhorn, Orlin, Tarjan 1990) of the keys queued while joining: bucket k > 0 holds
     * keys whose highest bit differing from `last` (the smallest key taken from it) is bit k - 1, bucket 0
     * keys equal to it. Appends are sequential and stale keys are dropped when their bucket is spread, so a
     * word of 100 000 symbols does not pay a binary heap's cache misses on every pop. */
    int radix;
    Keys init, tmp;
    size_t init_at;
    uint64_t last, nonempty;  /* nonempty: bit k - 1 set when bucket k > 0 holds a key */
    Keys bucket[65];
    /* before the radix heap, keys queued while joining go to ascending runs (read from run_at): joins made
     * left to right queue their neighbours left to right, one run per score, each key taken in O(1) */
    Keys run[RUNS];
    size_t run_at[RUNS];
    int n_runs;  /* runs started in this word */
    long long taken[5];  /* merge_info(): words of more than RADIX_MIN symbols, keys taken from init, the runs,
                          * the binary heap and the radix heap in them */
} Scratch;

static void scratch_free(Scratch *sc) {
    free(sc->start); free(sc->len); free(sc->prev); free(sc->next); free(sc->code); free(sc->frozen);
    free(sc->rkey); free(sc->rjoin);
    free(sc->heap.p); free(sc->init.p); free(sc->tmp.p);
    for (int k = 0; k < 65; k++) free(sc->bucket[k].p);
    for (int r = 0; r < RUNS; r++) free(sc->run[r].p);
}

static int scratch_reserve(Scratch *sc, size_t n) {
    if (n <= sc->cap) return 0;
    size_t cap = sc->cap ? sc->cap : 64;
    while (cap < n) cap *= 2;
    int32_t *a = realloc(sc->start, cap * 4); if (!a) return -1; sc->start = a;
    a = realloc(sc->len, cap * 4); if (!a) return -1; sc->len = a;
    a = realloc(sc->prev, cap * 4); if (!a) return -1; sc->prev = a;
    a = realloc(sc->next, cap * 4); if (!a) return -1; sc->next = a;
    uint32_t *c = realloc(sc->code, cap * 4); if (!c) return -1; sc->code = c;
    uint8_t *f = realloc(sc->frozen, cap); if (!f) return -1; sc->frozen = f;
    c = realloc(sc->rjoin, cap * 4); if (!c) return -1; sc->rjoin = c;
    uint64_t *k = realloc(sc->rkey, cap * 8); if (!k) return -1; sc->rkey = k;
    sc->cap = cap;
    return 0;
}

static inline int keys_add(Keys *k, uint64_t key) {
    if (k->n == k->cap && reserve((void **)&k->p, &k->cap, k->n + 1, sizeof(uint64_t))) return -1;
    k->p[k->n++] = key;
    return 0;
}

static inline uint64_t cand_key(float score, int32_t left) {
    if (score == 0.0f) score = 0.0f;  /* -0.0 ties with 0.0, as in Python */
    uint32_t u;
    memcpy(&u, &score, 4);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  /* ascending with the float */
    return ((uint64_t)~u << 32) | (uint32_t)left;
}

static void sift_down(uint64_t *h, size_t n, size_t i) {
    uint64_t x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static int heap_push(Keys *h, uint64_t key) {
    if (keys_add(h, key)) return -1;
    size_t i = h->n - 1;
    while (i) {
        size_t parent = (i - 1) / 2;
        if (h->p[parent] <= key) break;
        h->p[i] = h->p[parent];
        i = parent;
    }
    h->p[i] = key;
    return 0;
}

static uint64_t heap_pop(Keys *h) {
    uint64_t top = h->p[0];
    h->p[0] = h->p[--h->n];
    if (h->n) sift_down(h->p, h->n, 0);
    return top;
}

/* the piece two adjacent symbols join into (its score in *score), or NO_CODE */
static inline uint32_t pair_code(const SPModel *m, const Scratch *sc, int32_t left, int32_t right, float *score) {
    if (left < 0 || right < 0 || sc->frozen[left] || sc->frozen[right]) return NO_CODE;
    uint32_t a = sc->code[left], b = sc->code[right];
    if (a == NO_CODE || b == NO_CODE) return NO_CODE;
    uint32_t joined = pair_find(m, a, b);
    if (joined != NO_CODE) *score = m->pieces[joined].score;
    return joined;
}

/* the pair (left, right) is now adjacent: its key (UINT64_MAX if it joins nothing) into rkey[left], its piece
 * into rjoin[left] */
static inline uint64_t pair_set(const SPModel *m, Scratch *sc, int32_t left, int32_t right) {
    float score;
    uint32_t joined = pair_code(m, sc, left, right, &score);
    uint64_t key = joined == NO_CODE ? UINT64_MAX : cand_key(score, left);
    sc->rkey[left] = key;
    sc->rjoin[left] = joined;
    return key;
}

/* the piece the pair at key's left symbol joins into when the key is not stale, else NO_CODE */
static inline uint32_t key_join(const SPModel *m, const Scratch *sc, uint64_t key) {
    int32_t left = (int32_t)(uint32_t)key;
    (void)m;
    /* len 0: joined into the symbol before it */
    return sc->len[left] && sc->rkey[left] == key ? sc->rjoin[left] : NO_CODE;
}

static inline int radix_bucket(uint64_t key, uint64_t last) {
    return key == last ? 0 : 64 - __builtin_clzll(key ^ last);
}

static inline int radix_add(Scratch *sc, int k, uint64_t key) {
    if (keys_add(&sc->bucket[k], key)) return -1;
    if (k) sc->nonempty |= 1ull << (k - 1);
    return 0;
}

/* queue the pair (left, right) if it joins into a piece */
static int cand_push(const SPModel *m, Scratch *sc, int32_t left, int32_t right) {
    if (left < 0) return 0;
    uint64_t key = pair_set(m, sc, left, right);
    if (key == UINT64_MAX) return 0;
    if (!sc->radix) return heap_push(&sc->heap, key);
    int fit = -1, free_run = -1;  /* the run of the largest last key not above this one, else an empty run */
    for (int r = 0; r < sc->n_runs; r++) {
        const Keys *run = &sc->run[r];
        if (sc->run_at[r] == run->n) {
            if (free_run < 0) free_run = r;
        } else if (run->p[run->n - 1] <= key && (fit < 0 || run->p[run->n - 1] > sc->run[fit].p[sc->run[fit].n - 1])) {
            fit = r;
        }
    }
    if (fit < 0 && free_run < 0 && sc->n_runs < RUNS) free_run = sc->n_runs++;
    if (fit < 0 && free_run >= 0) {
        fit = free_run;
        sc->run[fit].n = sc->run_at[fit] = 0;
    }
    if (fit >= 0) return keys_add(&sc->run[fit], key);
    if (key < sc->last) return heap_push(&sc->heap, key);
    return radix_add(sc, radix_bucket(key, sc->last), key);
}

/* make bucket 0 hold the radix heap's smallest key (`last`): spread the lowest non-empty bucket over the lower
 * ones around its smallest live key, dropping stale keys. 0 when the radix heap is empty, -1 out of memory. */
static int radix_settle(const SPModel *m, Scratch *sc) {
    while (!sc->bucket[0].n) {
        if (!sc->nonempty) return 0;
        int k = __builtin_ctzll(sc->nonempty) + 1;
        sc->nonempty &= ~(1ull << (k - 1));
        uint64_t *p = sc->bucket[k].p, min = UINT64_MAX;
        size_t n = sc->bucket[k].n, live = 0;
        sc->bucket[k].n = 0;
        for (size_t i = 0; i < n; i++)
            if (key_join(m, sc, p[i]) != NO_CODE) {
                if (p[i] < min) min = p[i];
                p[live++] = p[i];
            }
        if (!live) continue;
        sc->last = min;
        for (size_t i = 0; i < live; i++)  /* each to a lower bucket: it differs from min below bit k - 1 */
            if (radix_add(sc, radix_bucket(p[i], min), p[i])) return -1;
    }
    return 1;
}

/* the smallest queued key into *key: 1, or 0 when the queue is empty, -1 out of memory */
static int cand_pop(const SPModel *m, Scratch *sc, uint64_t *key) {
    if (!sc->radix) {
        if (!sc->heap.n) return 0;
        *key = heap_pop(&sc->heap);
        return 1;
    }
    int from = -1;  /* 0: init, 1: the binary heap, 2: the radix heap, 3 + r: run r */
    uint64_t best = UINT64_MAX;  /* no key: the left symbol's index is below 2^31 */
    if (sc->init_at < sc->init.n) best = sc->init.p[sc->init_at], from = 0;
    for (int r = 0; r < sc->n_runs; r++)
        if (sc->run_at[r] < sc->run[r].n && sc->run[r].p[sc->run_at[r]] < best)
            best = sc->run[r].p[sc->run_at[r]], from = 3 + r;
    if (sc->heap.n) {  /* its keys are below every key of the radix heap */
        if (sc->heap.p[0] < best) from = 1;
    } else {
        int rc = radix_settle(m, sc);
        if (rc < 0) return -1;
        if (rc && sc->last < best) best = sc->last, from = 2;
    }
    if (from < 0) return 0;
    sc->taken[from == 0 ? 1 : from == 1 ? 3 : from == 2 ? 4 : 2]++;
    if (from == 0) *key = sc->init.p[sc->init_at++];
    else if (from == 1) *key = heap_pop(&sc->heap);
    else if (from == 2) *key = sc->bucket[0].p[--sc->bucket[0].n];
    else *key = sc->run[from - 3].p[sc->run_at[from - 3]++];
    return 1;
}

#define FEW_SCORES 64

/* the index of score order hi among vals (a FEW_SCORES-entry table by hash in slots, 0 = empty); a new one is
 * added while fewer than FEW_SCORES are known, else -1 */
static inline int score_index(uint8_t *slots, uint32_t *vals, int *n_vals, uint32_t hi) {
    for (uint32_t i = (hi * 0x9E3779B1u) >> 24;; i = (i + 1) & 255) {
        if (!slots[i]) {
            if (*n_vals == FEW_SCORES) return -1;
            vals[*n_vals] = hi;
            slots[i] = (uint8_t)++*n_vals;
            return *n_vals - 1;
        }
        if (vals[slots[i] - 1] == hi) return slots[i] - 1;
    }
}

/* init's keys sorted: generated left to right, they only need a stable sort by score order. Mostly a word's
 * first pairs have a few scores: one counting pass and one scatter by the rank of the score (equal scores in
 * a row kept in registers). Else an LSD radix sort over the bytes of the score order that vary. */
static int sort_init(Scratch *sc) {
    size_t n = sc->init.n;
    if (n < 2) return 0;
    uint64_t *p = sc->init.p;
    uint8_t slots[256] = {0};
    uint32_t vals[FEW_SCORES] = {0};
    size_t start[FEW_SCORES] = {0};
    int n_vals = 0, idx = score_index(slots, vals, &n_vals, (uint32_t)(p[0] >> 32));
    uint32_t cur = (uint32_t)(p[0] >> 32);
    size_t run = 0, i;
    for (i = 0; i < n; i++) {
        uint32_t hi = (uint32_t)(p[i] >> 32);
        if (hi != cur) {
            start[idx] += run;
            idx = score_index(slots, vals, &n_vals, hi);
            if (idx < 0) break;
            cur = hi, run = 0;
        }
        run++;
    }
    if (i == n) {
        if (n_vals == 1) return 0;  /* one score: already sorted */
        start[idx] += run;
        int order[FEW_SCORES];
        for (int a = 0; a < n_vals; a++) {  /* insertion sort of the few scores */
            int b = a;
            for (; b > 0 && vals[order[b - 1]] > vals[a]; b--) order[b] = order[b - 1];
            order[b] = a;
        }
        size_t at = 0;
        for (int a = 0; a < n_vals; a++) {  /* counts -> where each score's keys start */
            size_t c = start[order[a]];
            start[order[a]] = at;
            at += c;
        }
        if (reserve((void **)&sc->tmp.p, &sc->tmp.cap, n, sizeof(uint64_t))) return -1;
        uint64_t *t = sc->tmp.p;
        cur = (uint32_t)(p[0] >> 32);
        idx = score_index(slots, vals, &n_vals, cur);
        at = start[idx];
        for (i = 0; i < n; i++) {
            uint32_t hi = (uint32_t)(p[i] >> 32);
            if (hi != cur) {
                start[idx] = at;
                idx = score_index(slots, vals, &n_vals, hi);
                at = start[idx];
                cur = hi;
            }
            t[at++] = p[i];
        }
        Keys swap = sc->init;
        sc->init = sc->tmp;
        sc->init.n = n;
        sc->tmp = swap;
        return 0;
    }
    uint32_t all = ~0u, any = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t hi = (uint32_t)(sc->init.p[i] >> 32);
        all &= hi;
        any |= hi;
    }
    for (int shift = 32; shift < 64; shift += 8) {
        if (!(((all ^ any) >> (shift - 32)) & 0xFF)) continue;
        if (reserve((void **)&sc->tmp.p, &sc->tmp.cap, n, sizeof(uint64_t))) return -1;
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++) count[((sc->init.p[i] >> shift) & 0xFF) + 1]++;
        for (int d = 0; d < 256; d++) count[d + 1] += count[d];
        for (size_t i = 0; i < n; i++) sc->tmp.p[count[(sc->init.p[i] >> shift) & 0xFF]++] = sc->init.p[i];
        Keys t = sc->init;
        sc->init = sc->tmp;
        sc->init.n = n;
        sc->tmp = t;
    }
    return 0;
}

/* pair_code of a word's first pairs: two ASCII characters (not user-defined pieces) from ascii_join */
static inline uint32_t first_join(const SPModel *m, const Scratch *sc, const uint8_t *w, int32_t left, int32_t right,
                                  float *score) {
    if (right >= 0 && !sc->frozen[left] && !sc->frozen[right]) {
        uint8_t a = w[sc->start[left]], b = w[sc->start[right]];
        if ((a | b) < 0x80) {  /* a symbol starting with an ASCII byte is that one character */
            uint32_t joined = m->ascii_join[a << 7 | b];
            if (joined != NO_CODE) *score = m->pieces[joined].score;
            return joined;
        }
    }
    return pair_code(m, sc, left, right, score);
}

#define SCAN_MAX 24
#ifndef RADIX_MIN
#define RADIX_MIN 128  /* words of more symbols take the long-word queue (faster from ~100 symbols, measured) */
#endif

/* ids of one word (or a whole text) by score-ordered joins, appended to out */
static int bpe_word(const SPModel *m, Scratch *sc, const uint8_t *w, size_t n, Ints *out) {
    if (scratch_reserve(sc, n + 1)) return -1;
    int32_t nsym = 0;
    for (size_t pos = 0; pos < n;) {
        size_t k = user_match(m, w, pos, n);
        sc->frozen[nsym] = k != 0;
        if (!k) k = utf8_len(w, pos, n);
        if (sc->frozen[nsym]) {
            sc->code[nsym] = symbol_code(m, w + pos, k, 0);
        } else {
            const uint8_t *c = w + pos;
            uint32_t cp = k == 1 ? c[0] : k == 2 ? (uint32_t)(c[0] & 0x1F) << 6 | (c[1] & 0x3F)
                        : k == 3 ? (uint32_t)(c[0] & 0x0F) << 12 | (uint32_t)(c[1] & 0x3F) << 6 | (c[2] & 0x3F)
                        : 0x10000;
            if (cp < 0x10000) {
                sc->code[nsym] = m->bmp_code[cp];
            } else {  /* a character beyond U+FFFF: mostly in no piece */
                uint32_t h = k == 4 ? astral_hash(c) : 0;
                sc->code[nsym] = k == 4 && !(m->astral_bits[h / 64] >> (h % 64) & 1) ? NO_CODE
                                 : symbol_code(m, c, k, 0);
            }
        }
        sc->start[nsym] = (int32_t)pos;
        sc->len[nsym] = (int32_t)k;
        sc->prev[nsym] = nsym - 1;
        sc->next[nsym] = nsym + 1;
        nsym++;
        pos += k;
    }
    if (!nsym) return 0;
    sc->next[nsym - 1] = -1;
    if (nsym <= SCAN_MAX) {
        /* few symbols: scan the adjacent pairs for the best join instead of a heap. The heap's live
         * entries are exactly the adjacent pairs that join into a piece, so the order is the same:
         * highest score, then leftmost. */
        float score[SCAN_MAX];
        uint32_t joined[SCAN_MAX];
        for (int32_t k = 0; k < nsym; k++) joined[k] = first_join(m, sc, w, k, k + 1 < nsym ? k + 1 : -1, &score[k]);
        for (;;) {
            int32_t bestk = -1;
            for (int32_t k = 0; k >= 0; k = sc->next[k])
                if (joined[k] != NO_CODE && (bestk < 0 || score[k] > score[bestk])) bestk = k;
            if (bestk < 0) break;
            int32_t right = sc->next[bestk], after = sc->next[right];
            sc->len[bestk] += sc->len[right];
            sc->len[right] = 0;
            sc->code[bestk] = joined[bestk];
            sc->next[bestk] = after;
            if (after >= 0) sc->prev[after] = bestk;
            joined[bestk] = pair_code(m, sc, bestk, after, &score[bestk]);
            int32_t before = sc->prev[bestk];
            if (before >= 0) joined[before] = pair_code(m, sc, before, bestk, &score[before]);
        }
        goto emit;
    }
    sc->radix = nsym > RADIX_MIN;
    sc->heap.n = sc->init.n = sc->init_at = 0;
    sc->last = sc->nonempty = 0;
    Keys *first = sc->radix ? &sc->init : &sc->heap;  /* every adjacent pair's key, left to right */
    if (reserve((void **)&first->p, &first->cap, (size_t)nsym, sizeof(uint64_t))) return -1;
    for (int32_t k = 0; k + 1 < nsym; k++) {
        float score;
        uint32_t joined = first_join(m, sc, w, k, k + 1, &score);
        uint64_t key = joined == NO_CODE ? UINT64_MAX : cand_key(score, k);
        sc->rkey[k] = key;
        sc->rjoin[k] = joined;
        if (key != UINT64_MAX) first->p[first->n++] = key;
    }
    if (sc->radix) {
        sc->taken[0]++;
        for (int k = 0; k < 65; k++) sc->bucket[k].n = 0;
        sc->n_runs = 0;
        if (sort_init(sc)) return -1;
    } else {
        for (size_t i = sc->heap.n / 2; i-- > 0;) sift_down(sc->heap.p, sc->heap.n, i);  /* heapify */
    }
    for (;;) {
        uint64_t key;
        int got = cand_pop(m, sc, &key);
        if (got < 0) return -1;
        if (!got) break;
        uint32_t joined = key_join(m, sc, key);
        if (joined == NO_CODE) continue;  /* stale */
        int32_t left = (int32_t)(uint32_t)key, right = sc->next[left], after = sc->next[right];
        sc->len[left] += sc->len[right];
        sc->len[right] = 0;
        sc->code[left] = joined;
        sc->next[left] = after;
        if (after >= 0) sc->prev[after] = left;
        if (cand_push(m, sc, sc->prev[left], left) || cand_push(m, sc, left, after)) return -1;
    }
emit:
    for (int32_t s = 0; s >= 0; s = sc->next[s]) {
        const uint8_t *piece = w + sc->start[s];
        const Piece *p = sc->code[s] < m->n_pieces ? &m->pieces[sc->code[s]] : NULL;
        if (p) {
            if (INTS_RESERVE(out, 1)) return -1;
            out->p[out->n++] = p->id;
        } else if (emit_unknown(m, piece, (size_t)sc->len[s], out)) {
            return -1;
        }
    }
    return 0;
}

static void cache_clear(SPModel *m) {
    if (m->cslots) memset(m->cslots, 0, ((size_t)m->cslot_mask + 1) * sizeof(Slot));
    m->cache_n = 0;
    m->cache_keys.n = 0;
    m->cache_ids.n = 0;
}

/* the cached entry of word w (hash h), or NULL with *slot where a new one would go */
static CacheEntry *cache_lookup(SPModel *m, const uint8_t *w, size_t n, uint64_t h, Slot **slot) {
    uint32_t tag = (uint32_t)(h >> 32) | 1;
    for (uint32_t i = (uint32_t)h & m->cslot_mask;; i = (i + 1) & m->cslot_mask) {
        Slot *sl = &m->cslots[i];
        if (!sl->idx) {
            *slot = sl;
            return NULL;
        }
        if (sl->tag == tag) {
            CacheEntry *e = &m->cache[sl->idx - 1];
            if (e->key_len == n && memcmp(m->cache_keys.p + e->key_off, w, n) == 0) return e;
        }
    }
}

/* a new entry for word w with room for n_ids ids (the index grows at half load); NULL if the cache was
 * full (it is emptied) or memory ran out (the word is then just not cached) */
static CacheEntry *cache_new(SPModel *m, const uint8_t *w, size_t n, uint64_t h, Slot *slot, size_t n_ids) {
    if (m->cache_n >= CACHE_MAX_ENTRIES || m->cache_ids.n + n_ids > CACHE_MAX_IDS) {  /* bounded memory */
        cache_clear(m);
        return NULL;
    }
    if (reserve((void **)&m->cache, &m->cache_cap, (size_t)m->cache_n + 1, sizeof(CacheEntry)) ||
        BYTES_RESERVE(&m->cache_keys, n) || INTS_RESERVE(&m->cache_ids, n_ids))
        return NULL;
    if (((size_t)m->cache_n + 1) * 2 > (size_t)m->cslot_mask + 1) {
        uint32_t mask = 2 * (m->cslot_mask + 1) - 1;
        Slot *slots = calloc((size_t)mask + 1, sizeof(Slot));
        if (!slots) return NULL;
        for (uint32_t k = 0; k < m->cache_n; k++) {
            uint64_t hk = m->cache[k].hash;
            uint32_t i = (uint32_t)hk & mask;
            while (slots[i].idx) i = (i + 1) & mask;
            slots[i].tag = (uint32_t)(hk >> 32) | 1;
            slots[i].idx = k + 1;
        }
        free(m->cslots);
        m->cslots = slots;
        m->cslot_mask = mask;
        uint32_t i = (uint32_t)h & mask;
        while (slots[i].idx) i = (i + 1) & mask;
        slot = &slots[i];
    }
    CacheEntry *e = &m->cache[m->cache_n++];
    slot->tag = (uint32_t)(h >> 32) | 1;
    slot->idx = m->cache_n;
    memset(e, 0, sizeof(*e));
    e->hash = h;
    e->key_off = (uint32_t)m->cache_keys.n;
    e->key_len = (uint32_t)n;
    memcpy(m->cache_keys.p + m->cache_keys.n, w, n);
    m->cache_keys.n += n;
    e->ids_off = (uint32_t)m->cache_ids.n;
    return e;
}

static int append_ids(const SPModel *m, const int32_t *ids, size_t n_ids, Ints *out) {
    if (n_ids && !m->byte_fallback && ids[0] == m->unk_id && out->n && out->p[out->n - 1] == m->unk_id) {
        ids++;
        n_ids--;
    }
    if (INTS_RESERVE(out, n_ids)) return -1;
    int32_t *o = out->p + out->n;
    if (n_ids <= 8)
        for (size_t k = 0; k < n_ids; k++) o[k] = ids[k];  /* most words: no call */
    else
        memcpy(o, ids, n_ids * sizeof(int32_t));
    out->n += n_ids;
    return 0;
}

/* append the ids of one word, through the cache; an unknown id right after another is dropped */
static int bpe_cached(SPModel *m, Scratch *sc, Ints *tmp, const uint8_t *w, size_t n, Ints *out) {
    Slot *slot = NULL;
    uint64_t h = 0;
    int cacheable = n <= CACHE_MAX_WORD && m->cslots;
    if (cacheable) {
        h = hash_bytes(w, n);
        CacheEntry *e = cache_lookup(m, w, n, h, &slot);
        if (e) {
            m->hits++;
            return append_ids(m, m->cache_ids.p + e->ids_off, e->n_ids, out);
        }
    }
    m->misses++;
    tmp->n = 0;
    if (bpe_word(m, sc, w, n, tmp)) return -1;
    if (cacheable) {
        CacheEntry *e = cache_new(m, w, n, h, slot, tmp->n);
        if (e) {
            e->n_ids = (uint32_t)tmp->n;
            if (tmp->n) memcpy(m->cache_ids.p + m->cache_ids.n, tmp->p, tmp->n * sizeof(int32_t));
            m->cache_ids.n += tmp->n;
        }
    }
    return append_ids(m, tmp->p, tmp->n, out);
}

static int bpe_text(SPModel *m, const uint8_t *t, size_t n, Ints *out) {
    if (!m->scratch && !(m->scratch = calloc(1, sizeof(Scratch)))) return -1;
    Scratch *sc = m->scratch;
    int rc = 0;
    if (!m->cache_words) {
        rc = bpe_word(m, sc, t, n, out);
    } else {
        for (size_t pos = 0; pos < n && !rc;) {  /* words: U+2581 run, then the rest up to the next one */
            size_t end = pos;
            while (is_mark(t, end, n)) end += 3;
            while (end < n && !is_mark(t, end, n)) end += utf8_len(t, end, n);
            rc = bpe_cached(m, sc, &m->tmp_buf, t + pos, end - pos, out);
            pos = end;
        }
    }
    if (sc->cap > (1u << 20)) {  /* a huge word: give its scratch back */
        long long taken[5];
        memcpy(taken, sc->taken, sizeof(taken));
        scratch_free(sc);
        memset(sc, 0, sizeof(*sc));
        memcpy(sc->taken, taken, sizeof(taken));
    }
    return rc;
}

/* ------------------------------------------------------------------ Unigram */
/* float32 addition, as sentencepiece adds path scores. Written in float: the sum of two floats rounded once
 * to double and then to float equals the float sum (double has more than 2 * 24 + 2 bits: double rounding is
 * innocuous for addition), so this is also what the double-precision bounds below assume. */
static inline float f32_add(float a, float b) { return a + b; }

/* The exact lattice of sentencepiece's EncodeOptimized over t (a whole text, or a word whose start holds the
 * path score *here: word starts are node boundaries, so a word run alone from there is the whole-text run);
 * *here becomes the path score at the end. */
static int lattice_reserve(SPModel *m, size_t n) {
    if (n <= m->lat_cap) return 0;
    size_t cap = m->lat_cap ? m->lat_cap : 1024;
    while (cap < n) cap *= 2;
    free(m->lat_best); free(m->lat_start); free(m->lat_pid);
    m->lat_best = malloc(cap * sizeof(float));
    m->lat_start = malloc(cap * sizeof(int32_t));
    m->lat_pid = malloc(cap * sizeof(int32_t));
    m->lat_cap = (m->lat_best && m->lat_start && m->lat_pid) ? cap : 0;
    return m->lat_cap ? 0 : -1;
}

static int unigram_text(SPModel *m, const uint8_t *t, size_t n, Ints *out, float *here_io) {
    if (lattice_reserve(m, n + 1)) return -1;
    float *best = m->lat_best;
    int32_t *start = m->lat_start, *pid = m->lat_pid;
    int rc = -1;
    /* positions up to `frontier` are set: best -inf and start -1 where no edge ends yet (set as edges reach
     * them, not in a pass over the whole text first) */
    start[0] = 0;
    best[0] = *here_io;
    size_t frontier = 0;
#define REACH(j) do { if ((j) > frontier) { \
        for (size_t q = frontier + 1; q <= (j); q++) best[q] = -INFINITY, start[q] = -1; \
        frontier = (j); } } while (0)
    for (size_t i = 0; i < n; i++) {
        if ((t[i] & 0xC0) == 0x80) continue;
        float here = best[i];
        if (!(here >= -SCORE_RESET && here <= SCORE_RESET)) {
            for (size_t k = i; k <= frontier; k++) best[k] = best[k] - here;  /* -inf stays */
            here = 0.0f;
        }
        size_t clen = utf8_len(t, i, n);
        int has_single = 0;
        int32_t node = m->root_child[t[i]];
        for (size_t p = i; node >= 0;) {
            const DANode *dn = &m->da[node];
            if (dn->id >= 0) {
                size_t j = p + 1;
                has_single |= j == i + clen;
                REACH(j);
                float rounded = dn->score + here;
                if (rounded > best[j]) {  /* ties keep the first */
                    best[j] = rounded;
                    start[j] = (int32_t)i;
                    pid[j] = dn->id;
                }
            }
            if (++p >= n) break;
            node = trie_child(m, node, t[p]);
        }
        if (!has_single) {
            size_t j = i + clen;
            REACH(j);
            float total = m->unk_score + here;
            if (total > best[j]) {
                best[j] = total;
                start[j] = (int32_t)i;
                pid[j] = -1;
            }
        }
    }
#undef REACH
    *here_io = best[n];
    /* backtrack: reuse best[] as scratch for the path's ends */
    size_t n_nodes = 0;
    int32_t *ends = (int32_t *)best;
    for (size_t j = n; j > 0; j = (size_t)start[j]) ends[n_nodes++] = (int32_t)j;
    for (size_t k = n_nodes; k-- > 0;) {
        size_t j = (size_t)ends[k];
        if (pid[j] >= 0) {
            if (INTS_RESERVE(out, 1)) goto done;
            out->p[out->n++] = pid[j];
        } else if (emit_unknown(m, t + start[j], j - (size_t)start[j], out)) {
            goto done;
        }
    }
    rc = 0;
done:
    return rc;
}

/* One word's best path in double precision from 0, with the margin by which each choice on the path wins.
 * If every margin exceeds what float32 rounding can move a path score within the word (each addition rounds
 * by at most 2^-7 while |scores| < 2^17), the float32 run picks this path whatever the score at the word
 * start, and its scores along the path are the float32 sums of the node scores: the word can be cached. */
static int unigram_word_double(const SPModel *m, const uint8_t *t, size_t n, Ints *ids, float *scores,
                               size_t *n_sc, double *lo, double *hi, double *ratio) {
    /* words of the cache only (n <= CACHE_MAX_WORD): the lattice lives on the stack, no allocation per word */
    double best[CACHE_MAX_WORD + 1], second[CACHE_MAX_WORD + 1];
    int32_t start[CACHE_MAX_WORD + 1], pid[CACHE_MAX_WORD + 1], cnt[CACHE_MAX_WORD + 1], nchar[CACHE_MAX_WORD + 1];
    int32_t ends[CACHE_MAX_WORD + 1];
    float node_score[CACHE_MAX_WORD + 1];
    int rc = -1;
    if (n > CACHE_MAX_WORD) return -1;
    for (size_t k = 0; k <= n; k++) start[k] = -1, best[k] = 0.0, second[k] = -INFINITY;
    start[0] = 0;
    cnt[0] = 0;
    size_t chars = 0;
    double vlo = 0.0, vhi = 0.0;
    for (size_t i = 0; i < n; i++) {
        if ((t[i] & 0xC0) == 0x80) continue;
        nchar[i] = (int32_t)chars++;
        double here = best[i];
        if (here < vlo) vlo = here;
        if (here > vhi) vhi = here;
        size_t clen = utf8_len(t, i, n);
        int has_single = 0;
        int32_t node = 0;
        for (size_t p = i; p < n; p++) {
            node = p == i ? m->root_child[t[p]] : trie_child(m, node, t[p]);
            if (node < 0) break;
            const DANode *dn = &m->da[node];
            if (dn->id < 0) continue;
            size_t j = p + 1;
            if (j == i + clen) has_single = 1;
            double total = (double)dn->score + here;
            if (start[j] != -1) {
                if (total <= best[j]) {
                    if (total > second[j]) second[j] = total;
                    continue;
                }
                if (best[j] > second[j]) second[j] = best[j];
            }
            best[j] = total;
            start[j] = (int32_t)i;
            cnt[j] = cnt[i] + 1;
            pid[j] = dn->id;
            node_score[j] = dn->score;
        }
        if (!has_single) {
            size_t j = i + clen;
            double total = (double)m->unk_score + here;
            if (start[j] == -1 || total > best[j]) {
                if (start[j] != -1 && best[j] > second[j]) second[j] = best[j];
                best[j] = total;
                start[j] = (int32_t)i;
                cnt[j] = cnt[i] + 1;
                pid[j] = -1;
            } else if (total > second[j]) {
                second[j] = total;
            }
        }
    }
    if (best[n] < vlo) vlo = best[n];
    if (best[n] > vhi) vhi = best[n];
    nchar[n] = (int32_t)chars;
    /* Below 2^17 each float32 addition rounds by at most 2^-8. At a node j of the path, the path's float32
     * score has cnt[j] roundings; a rival's has at most one per character before j (nchar[j]). A choice
     * that wins by more than twice their sum times 2^-8 is the float32 choice too. */
    size_t n_nodes = 0;
    double min_ratio = INFINITY;
    for (size_t j = n; j > 0; j = (size_t)start[j]) {
        double r = (best[j] - second[j]) / (double)(cnt[j] + nchar[j] + 2);
        if (!(r >= 0.0)) r = 0.0;  /* a tie (or NaN): never safe */
        if (r < min_ratio) min_ratio = r;
        n_nodes++;
    }
    if (min_ratio > 1e30) min_ratio = 1e30;
    size_t k = n_nodes;
    for (size_t j = n; j > 0; j = (size_t)start[j]) ends[--k] = (int32_t)j;
    for (k = 0; k < n_nodes; k++) {
        size_t j = (size_t)ends[k];
        if (pid[j] >= 0) {
            if (INTS_RESERVE(ids, 1)) goto done;
            ids->p[ids->n++] = pid[j];
            scores[k] = node_score[j];
        } else {
            if (emit_unknown(m, t + start[j], j - (size_t)start[j], ids)) goto done;
            scores[k] = m->unk_score;
        }
    }
    *n_sc = n_nodes;
    *lo = vlo;
    *hi = vhi;
    *ratio = min_ratio * 0.999;  /* rounded down, never up */
    rc = 0;
done:
    return rc;
}

/* The Unigram word cache: one record per word in one arena (header, key, ids, node scores), found through an
 * open-addressing index of (hash tag, arena offset + 1): a hit reads the index slot and one record. */
typedef struct {
    double hmin, hmax;      /* the cached path holds when hmin < here < hmax (an empty range: never) */
    uint32_t key_len, n_ids, n_sc, pad;
} URec;

#define UCACHE_MAX_BYTES (64u << 20)

static inline size_t urec_size(uint32_t key_len, uint32_t n_ids, uint32_t n_sc) {
    return (sizeof(URec) + ((key_len + 3u) & ~3u) + 4u * (size_t)(n_ids + n_sc) + 7u) & ~(size_t)7u;
}
static inline const uint8_t *urec_key(const URec *r) { return (const uint8_t *)(r + 1); }
static inline const int32_t *urec_ids(const URec *r) {
    return (const int32_t *)((const uint8_t *)(r + 1) + ((r->key_len + 3u) & ~3u));
}
static inline const float *urec_sc(const URec *r) { return (const float *)(urec_ids(r) + r->n_ids); }

static inline int bytes_equal(const uint8_t *a, const uint8_t *b, size_t n) {
    uint64_t x, y;
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return 0;
    }
    for (; n; a++, b++, n--) if (*a != *b) return 0;
    return 1;
}

static void ucache_clear(SPModel *m) {
    if (m->cslots) memset(m->cslots, 0, ((size_t)m->cslot_mask + 1) * sizeof(Slot));
    m->cache_n = 0;
    m->uarena.n = 0;
}

static inline URec *ucache_lookup(SPModel *m, const uint8_t *w, size_t n, uint64_t h, Slot **slot) {
    uint32_t tag = (uint32_t)(h >> 32) | 1;
    for (uint32_t i = (uint32_t)h & m->cslot_mask;; i = (i + 1) & m->cslot_mask) {
        Slot *sl = &m->cslots[i];
        if (!sl->idx) {
            *slot = sl;
            return NULL;
        }
        if (sl->tag == tag) {
            URec *r = (URec *)(m->uarena.p + sl->idx - 1);
            if (r->key_len == n && bytes_equal(urec_key(r), w, n)) return r;
        }
    }
}

/* The range of path scores `here` at the word start for which the cached path is float32's path too.
 * Every value the lattice computes in the word is below M = max(|here + lo|, |here + hi|) + the largest |score|
 * (+1), and each float32 addition rounds by at most half an ulp of M. Both paths to a choice have at most
 * cnt + nchar additions, so a choice whose margin exceeds (cnt + nchar + 2) * ulp(M) is float32's too: that is
 * ratio > ulp(M) = 2^(e - 24) where M = f * 2^e, f in [0.5, 1), i.e. M < 2^E for the largest E with
 * 2^(E - 24) < ratio. Scores must also stay inside +-100000 (sentencepiece re-bases there). lo <= 0 <= hi. */
static void usable_range(const SPModel *m, double lo, double hi, double ratio, double *hmin, double *hmax) {
    *hmin = INFINITY;
    *hmax = -INFINITY;
    if (!(ratio > 0.0) || !(ratio < 1e30)) return;
    int e;
    double f = frexp(ratio, &e);
    int big_e = f == 0.5 ? e + 22 : e + 23;
    double r = ldexp(1.0, big_e) - m->max_abs_score - 1.0;
    r -= fabs(r) * 1e-9 + 1e-6;  /* inward, whatever the rounding of the sums above */
    if (!(r > 0.0)) return;
    double a = -r - lo, b = r - hi;
    double c = -SCORE_RESET + 1.0 - lo, d = SCORE_RESET - 1.0 - hi;
    *hmin = (a > c ? a : c) + 1e-6;
    *hmax = (b < d ? b : d) - 1e-6;
}

/* a new record for word w (hash h, index slot `slot`); NULL when memory ran out or the arena was full
 * (then it is emptied: bounded memory, whatever the words) */
static URec *ucache_new(SPModel *m, const uint8_t *w, size_t n, uint64_t h, Slot *slot, uint32_t n_ids,
                        uint32_t n_sc) {
    size_t size = urec_size((uint32_t)n, n_ids, n_sc);
    if (m->cache_n >= CACHE_MAX_ENTRIES || m->uarena.n + size > UCACHE_MAX_BYTES) {
        ucache_clear(m);
        return NULL;
    }
    if (BYTES_RESERVE(&m->uarena, size)) return NULL;
    if (((size_t)m->cache_n + 1) * 2 > (size_t)m->cslot_mask + 1) {  /* grow the index at half load */
        uint32_t mask = 2 * (m->cslot_mask + 1) - 1;
        Slot *slots = calloc((size_t)mask + 1, sizeof(Slot));
        if (!slots) return NULL;
        for (size_t off = 0; off < m->uarena.n;) {
            const URec *r = (const URec *)(m->uarena.p + off);
            uint64_t hk = hash_bytes(urec_key(r), r->key_len);
            uint32_t i = (uint32_t)hk & mask;
            while (slots[i].idx) i = (i + 1) & mask;
            slots[i].tag = (uint32_t)(hk >> 32) | 1;
            slots[i].idx = (uint32_t)off + 1;
            off += urec_size(r->key_len, r->n_ids, r->n_sc);
        }
        free(m->cslots);
        m->cslots = slots;
        m->cslot_mask = mask;
        uint32_t i = (uint32_t)h & mask;
        while (slots[i].idx) i = (i + 1) & mask;
        slot = &slots[i];
    }
    URec *r = (URec *)(m->uarena.p + m->uarena.n);
    memset(r, 0, size);
    r->key_len = (uint32_t)n;
    r->n_ids = n_ids;
    r->n_sc = n_sc;
    memcpy((uint8_t *)(r + 1), w, n);
    slot->tag = (uint32_t)(h >> 32) | 1;
    slot->idx = (uint32_t)m->uarena.n + 1;
    m->uarena.n += size;
    m->cache_n++;
    return r;
}

static int unigram_split(SPModel *m, const uint8_t *t, size_t n, float *here, Ints *out, int cache);

/* one word of a Unigram text whose start holds the float32 path score *here */
static int unigram_cached(SPModel *m, Ints *tmp, const uint8_t *w, size_t n, float *here, Ints *out) {
    URec *r = NULL;
    if (n > CACHE_MAX_WORD) return unigram_split(m, w, n, here, out, SPLIT_CACHE);
    if (n <= CACHE_MAX_WORD && m->cslots) {
        uint64_t h = hash_padded(w, n);
        Slot *slot;
        r = ucache_lookup(m, w, n, h, &slot);
        if (r) {
            m->hits++;
        } else {
            /* a miss: work the word out in double precision and keep it */
            m->misses++;
            tmp->n = 0;
            float sc[CACHE_MAX_WORD + 1];
            size_t n_sc;
            double lo, hi, ratio;
            if (unigram_word_double(m, w, n, tmp, sc, &n_sc, &lo, &hi, &ratio)) return -1;
            r = ucache_new(m, w, n, h, slot, (uint32_t)tmp->n, (uint32_t)n_sc);
            if (r) {
                usable_range(m, lo, hi, ratio, &r->hmin, &r->hmax);
                if (tmp->n) memcpy((int32_t *)urec_ids(r), tmp->p, tmp->n * sizeof(int32_t));
                memcpy((float *)urec_sc(r), sc, n_sc * sizeof(float));
            }
        }
    }
    /* the cached path holds in its range: then replay the float32 sums along it */
    if (r && (double)*here > r->hmin && (double)*here < r->hmax) {
        float p = *here;
        const float *sc = urec_sc(r);
        for (uint32_t k = 0; k < r->n_sc; k++) p = sc[k] + p;
        *here = p;
        return append_ids(m, urec_ids(r), r->n_ids, out);
    }
    m->exact++;
    tmp->n = 0;
    if (unigram_text(m, w, n, tmp, here)) return -1;
    return append_ids(m, tmp->p, tmp->n, out);
}

/* the end of the word at t[pos:]: its run of U+2581, then up to the next U+2581. Reads 8 bytes at a time (the
 * normalized text's buffer keeps 8 bytes of slack past its end) and finds the first 0xE2 byte by the
 * zero-byte bit trick: the lowest flagged byte is a real zero (false flags only sit above a real one). */
static inline size_t word_end(const uint8_t *t, size_t pos, size_t n) {
    size_t end = pos;
    while (is_mark(t, end, n)) end += 3;
    while (end < n) {
        uint64_t x;
        memcpy(&x, t + end, 8);
        x ^= 0xE2E2E2E2E2E2E2E2ull;
        uint64_t z = (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
        if (!z) {
            end += 8;
            continue;
        }
        end += (size_t)__builtin_ctzll(z) >> 3;
        if (end >= n) break;
        if (is_mark(t, end, n)) return end;
        end++;
    }
    return n;
}

static int unigram_words(SPModel *m, const uint8_t *t, size_t n, Ints *out) {
    float here = 0.0f;
    if (!m->cache_words) return unigram_split(m, t, n, &here, out, 0);
    int rc = 0;
    for (size_t pos = 0; pos < n && !rc;) {
        size_t end = word_end(t, pos, n);
        rc = unigram_cached(m, &m->tmp_buf, t + pos, end - pos, &here, out);
        pos = end;
    }
    return rc;
}

/* the code point of the character at s (k bytes, valid UTF-8) */
static inline uint32_t code_point(const uint8_t *c, size_t k) {
    return k == 1 ? c[0] : k == 2 ? (uint32_t)(c[0] & 0x1F) << 6 | (c[1] & 0x3F)
         : k == 3 ? (uint32_t)(c[0] & 0x0F) << 12 | (uint32_t)(c[1] & 0x3F) << 6 | (c[2] & 0x3F)
         : (uint32_t)(c[0] & 0x07) << 18 | (uint32_t)(c[1] & 0x3F) << 12 | (uint32_t)(c[2] & 0x3F) << 6 | (c[3] & 0x3F);
}

/* whether no piece of two or more characters holds this character: then no lattice edge crosses either side of
 * it, both are node boundaries of every path, and its only edges are its own piece or the unknown piece */
static inline int isolated(const SPModel *m, uint32_t cp) {
    return cp < 0x10000 ? !(m->multi_bits[cp >> 6] >> (cp & 63) & 1) : !m->astral_multi;
}

/* Text between node boundaries (a long word, or a whole text whose pieces cross word starts) in parts: each
 * isolated character on its own (its piece or the unknown piece, one float32 addition as the lattice makes it),
 * the runs between them through the word cache when `cache` and short enough, else the exact lattice. */
static int unigram_split(SPModel *m, const uint8_t *t, size_t n, float *here, Ints *out, int cache) {
    size_t run = 0;
    for (size_t i = 0; i <= n;) {
        /* ASCII that longer pieces hold: most bytes of a long ASCII word */
        while (i < n && t[i] < 0x80 && (m->multi_bits[t[i] >> 6] >> (t[i] & 63) & 1)) i++;
        size_t k = i < n ? utf8_len(t, i, n) : 0;
        if (i < n && !isolated(m, code_point(t + i, k))) {
            i += k;
            continue;
        }
        if (i > run) {  /* the run [run, i) */
            int rc;
            if (cache && i - run <= CACHE_MAX_WORD && m->cslots) {
                rc = unigram_cached(m, &m->tmp_buf, t + run, i - run, here, out);
            } else {
                m->exact++;
                rc = unigram_text(m, t + run, i - run, out, here);
            }
            if (rc) return rc;
        }
        if (i == n) break;
        if (!(*here >= -SCORE_RESET && *here <= SCORE_RESET)) *here = 0.0f;  /* sentencepiece re-bases here */
        int32_t node = m->root_child[t[i]];
        for (size_t b = 1; b < k && node >= 0; b++) node = trie_child(m, node, t[i + b]);
        if (node >= 0 && m->da[node].id >= 0) {
            *here = f32_add(m->da[node].score, *here);
            if (INTS_RESERVE(out, 1)) return -1;
            out->p[out->n++] = m->da[node].id;
        } else {
            *here = f32_add(m->unk_score, *here);
            if (emit_unknown(m, t + i, k, out)) return -1;
        }
        i += k;
        run = i;
    }
    return 0;
}

/* ------------------------------------------------------------------ Python */
static void SPModel_dealloc(SPModel *m) {
    free(m->blob); free(m->pieces); free(m->slots); free(m->da); free(m->lat_best); free(m->lat_start); free(m->lat_pid);
    free(m->pairs); free(m->bmp_code); free(m->ascii_join); free(m->astral_bits); free(m->ckeys); free(m->cvals);
    free(m->user); free(m->units); free(m->strings); free(m->norm_buf.p); free(m->ids_buf.p); free(m->tmp_buf.p);
    if (m->scratch) scratch_free(m->scratch);
    free(m->scratch);
    free(m->cache); free(m->cslots); free(m->cp_unit); free(m->cp_base); free(m->cache_keys.p); free(m->cache_ids.p);
    free(m->uarena.p); free(m->same_bits); free(m->base_bits); free(m->multi_bits);
    if (m->id_objs)
        for (int32_t k = 0; k < m->n_id_objs; k++) Py_XDECREF(m->id_objs[k]);
    free(m->id_objs);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

static int id_objs_build(SPModel *m);

static int SPModel_init(SPModel *m, PyObject *args, PyObject *kw) {
    static char *names[] = {"model_type", "pieces", "ids", "scores", "user_defined", "byte_ids", "unk_id",
                            "unk_score", "charsmap", "add_dummy_prefix", "remove_extra_whitespaces",
                            "escape_whitespaces", "treat_whitespace_as_suffix", "cache_words", NULL};
    const char *model_type;
    PyObject *pieces, *ids, *scores, *user, *byte_ids;
    Py_buffer charsmap = {0};
    int unk_id;
    double unk_score;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sO!O!O!O!O!idy*ppppp", names, &model_type, &PyList_Type, &pieces,
                                     &PyList_Type, &ids, &PyList_Type, &scores, &PyList_Type, &user, &PyList_Type,
                                     &byte_ids, &unk_id, &unk_score, &charsmap, &m->add_dummy, &m->remove_extra,
                                     &m->escape, &m->suffix, &m->cache_words))
        return -1;
    int rc = -1;
    if (m->blob) {
        PyErr_SetString(PyExc_RuntimeError, "SPModel is already initialised");
        goto out;
    }
    m->unigram = strcmp(model_type, "unigram") == 0;
    m->unk_id = unk_id;
    m->unk_score = (float)unk_score;
    Py_ssize_t np = PyList_GET_SIZE(pieces), nu = PyList_GET_SIZE(user);
    if (PyList_GET_SIZE(ids) != np || PyList_GET_SIZE(scores) != np) {
        PyErr_SetString(PyExc_ValueError, "pieces, ids and scores differ in length");
        goto out;
    }
    Py_ssize_t nb = PyList_GET_SIZE(byte_ids);
    if (nb != 0 && nb != 256) {
        PyErr_SetString(PyExc_ValueError, "byte_ids must be empty or 256 ids");
        goto out;
    }
    m->byte_fallback = nb == 256;
    for (Py_ssize_t b = 0; b < nb; b++) {
        m->byte_ids[b] = (int32_t)PyLong_AsLong(PyList_GET_ITEM(byte_ids, b));
        if (PyErr_Occurred()) goto out;
    }
    size_t total = 0;
    for (Py_ssize_t i = 0; i < np + nu; i++) {
        PyObject *o = i < np ? PyList_GET_ITEM(pieces, i) : PyList_GET_ITEM(user, i - np);
        if (!PyBytes_Check(o) || PyBytes_GET_SIZE(o) == 0) {
            PyErr_SetString(PyExc_TypeError, "pieces must be non-empty bytes");
            goto out;
        }
        total += (size_t)PyBytes_GET_SIZE(o);
    }
    m->blob = malloc(total + 1);
    m->pieces = calloc((size_t)np + 1, sizeof(Piece));
    m->user = calloc((size_t)nu + 1, sizeof(Piece));
    uint32_t cap = 1;
    while (cap < 2 * (uint64_t)np + 2) cap <<= 1;
    m->slots = calloc(cap, sizeof(uint32_t));
    m->mask = cap - 1;
    if (!m->blob || !m->pieces || !m->user || !m->slots) {
        PyErr_NoMemory();
        goto out;
    }
    size_t off = 0;
    for (Py_ssize_t i = 0; i < np + nu; i++) {
        PyObject *o = i < np ? PyList_GET_ITEM(pieces, i) : PyList_GET_ITEM(user, i - np);
        Piece *p = i < np ? &m->pieces[i] : &m->user[i - np];
        p->off = (uint32_t)off;
        p->len = (uint32_t)PyBytes_GET_SIZE(o);
        memcpy(m->blob + off, PyBytes_AS_STRING(o), p->len);
        off += p->len;
        if (i < np) {
            p->id = (int32_t)PyLong_AsLong(PyList_GET_ITEM(ids, i));
            p->score = (float)PyFloat_AsDouble(PyList_GET_ITEM(scores, i));
            if (PyErr_Occurred()) goto out;
        } else {
            m->user_first[m->blob[p->off]] = 1;
        }
    }
    m->n_pieces = (uint32_t)np;
    m->n_user = (uint32_t)nu;
    for (uint32_t i = 0; i < m->n_pieces; i++) {
        const Piece *p = &m->pieces[i];
        uint32_t s = (uint32_t)hash_bytes(m->blob + p->off, p->len) & m->mask;
        while (m->slots[s]) {
            const Piece *q = &m->pieces[m->slots[s] - 1];
            if (q->len == p->len && memcmp(m->blob + q->off, m->blob + p->off, p->len) == 0) break;
            s = (s + 1) & m->mask;
        }
        if (!m->slots[s]) m->slots[s] = i + 1;  /* a repeated piece keeps its first id */
    }
    /* user-defined pieces longest first (a longer match wins; equal lengths cannot both match) */
    for (uint32_t a = 1; a < m->n_user; a++)
        for (uint32_t b = a; b > 0 && m->user[b].len > m->user[b - 1].len; b--) {
            Piece tmp = m->user[b]; m->user[b] = m->user[b - 1]; m->user[b - 1] = tmp;
        }
    if (charsmap.len) {
        const uint8_t *c = charsmap.buf;
        if (charsmap.len < 4) goto bad_map;
        uint32_t trie_size = (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;
        if (trie_size % 4 || trie_size == 0 || 4 + (Py_ssize_t)trie_size >= charsmap.len) goto bad_map;
        m->n_units = trie_size / 4;
        m->n_strings = charsmap.len - 4 - trie_size;
        m->units = malloc(trie_size);
        m->strings = malloc((size_t)m->n_strings + 1);
        if (!m->units || !m->strings) {
            PyErr_NoMemory();
            goto out;
        }
        for (Py_ssize_t k = 0; k < m->n_units; k++) {
            const uint8_t *u = c + 4 + 4 * k;
            m->units[k] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
        }
        memcpy(m->strings, c + 4 + trie_size, (size_t)m->n_strings);
        m->strings[m->n_strings] = 0;
    }
    for (int b = 0; b < 256; b++) {
        /* without a map every byte but a space or a user piece's start; with one, ASCII bytes no key starts with */
        uint8_t one = (uint8_t)b;
        uint32_t value;
        int plain = b != ' ' && !m->user_first[b];
        if (m->units) plain = plain && b < 0x80 && charsmap_match(m, &one, 0, 1, &value) == 0 && !starts_key(m, one);
        m->plain[b] = (uint8_t)plain;
    }
    if (m->units) {
        m->cp_unit = malloc(0x10000 * sizeof(int32_t));
        m->cp_base = malloc(0x10000 * sizeof(int32_t));
        if (!m->cp_unit || !m->cp_base) {
            PyErr_NoMemory();
            goto out;
        }
        for (uint32_t cp = 0; cp < 0x10000; cp++) {
            m->cp_base[cp] = CP_ANY;
            m->cp_unit[cp] = (cp >= 0xD800 && cp < 0xE000) ? CP_ANY : code_point_unit(m, cp, &m->cp_base[cp]);
        }
        for (int b = 0; b < 0x80; b++)
            m->plain_before_ascii[b] = b != ' ' && !m->user_first[b] &&
                                       (m->cp_unit[b] == CP_SAME || m->cp_base[b] == CP_SAME);
    }
    for (int b = 0; b < 256; b++)
        m->run_class[b] = m->plain[b] ? 1 : (b < 0x80 && m->units && m->plain_before_ascii[b]) ? 2 : 0;
    if (m->units) {
        m->same_bits = calloc(0x10000 / 64, sizeof(uint64_t));
        m->base_bits = calloc(0x10000 / 64, sizeof(uint64_t));
        if (!m->same_bits || !m->base_bits) {
            PyErr_NoMemory();
            goto out;
        }
        for (uint32_t cp = 0; cp < 0x10000; cp++) {
            if (m->cp_unit[cp] == CP_SAME) m->same_bits[cp >> 6] |= 1ull << (cp & 63);
            else if (m->cp_unit[cp] == CP_ANY && m->cp_base[cp] == CP_SAME) m->base_bits[cp >> 6] |= 1ull << (cp & 63);
        }
    }
    for (int b = 0; b < 0x80; b++) {
        if (m->user_first[b]) continue;
        if (!m->units) {
            m->space_unit[b] = b == ' ';
            continue;
        }
        int32_t v = m->cp_unit[b], vb = m->cp_base[b];
        if ((v == CP_SAME && b == ' ') || (v >= 0 && v < m->n_strings && strcmp((const char *)m->strings + v, " ") == 0))
            m->space_unit[b] = 1;
        else if (v == CP_ANY && ((vb == CP_SAME && b == ' ') ||
                                 (vb >= 0 && vb < m->n_strings && strcmp((const char *)m->strings + vb, " ") == 0)))
            m->space_unit[b] = 2;
    }
    if (m->unigram) {
        /* the word cache's rounding bound assumes path scores below 2^17 near a word: refuse huge scores */
        if (fabsf(m->unk_score) > 1000.0f) m->cache_words = 0;
        m->max_abs_score = fabs((double)m->unk_score);
        for (uint32_t i = 0; i < m->n_pieces; i++) {
            if (!(fabsf(m->pieces[i].score) <= 1000.0f)) m->cache_words = 0;
            if (fabs((double)m->pieces[i].score) > m->max_abs_score) m->max_abs_score = fabs((double)m->pieces[i].score);
        }
        m->cslot_mask = 4095;
        m->cslots = m->cache_words ? calloc(4096, sizeof(Slot)) : NULL;
        m->multi_bits = calloc(0x10000 / 64, sizeof(uint64_t));
        if (trie_build(m) || (m->cache_words && !m->cslots) || !m->multi_bits) {
            PyErr_NoMemory();
            goto out;
        }
        for (uint32_t i = 0; i < m->n_pieces; i++) {
            const uint8_t *b = m->blob + m->pieces[i].off;
            size_t len = m->pieces[i].len;
            if (utf8_len(b, 0, len) == len) continue;  /* one character */
            for (size_t k = 0; k < len;) {
                size_t cl = utf8_len(b, k, len);
                uint32_t cp = code_point(b + k, cl);
                if (cp < 0x10000) m->multi_bits[cp >> 6] |= 1ull << (cp & 63);
                else m->astral_multi = 1;
                k += cl;
            }
        }
    } else {
        if (pairs_build(m)) {
            PyErr_NoMemory();
            goto out;
        }
        m->cslot_mask = 4095;
        m->cslots = m->cache_words ? calloc(4096, sizeof(Slot)) : NULL;
        if (m->cache_words && !m->cslots) {
            PyErr_NoMemory();
            goto out;
        }
    }
    if (id_objs_build(m)) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto out;
    }
    rc = 0;
    goto out;
bad_map:
    PyErr_SetString(PyExc_ValueError, "precompiled_charsmap is invalid");
out:
    PyBuffer_Release(&charsmap);
    return rc;
}

/* the ids as a list the cycle collector does not track (why: `ids_to_list` in _bpe.c) */
static PyObject *ids_to_list(const SPModel *m, const Ints *ids) {
    PyObject *list = PyList_New((Py_ssize_t)ids->n);
    if (!list) return NULL;
    PyObject **items = ((PyListObject *)list)->ob_item, **objs = m->id_objs;
    uint32_t n_objs = (uint32_t)m->n_id_objs;
#ifndef Py_GIL_DISABLED
    /* a run of one id (a long run of one character) takes its references at once, not one by one */
    PyObject *run = NULL;
    Py_ssize_t run_n = 0;
#endif
    for (size_t k = 0; k < ids->n; k++) {
        uint32_t id = (uint32_t)ids->p[k];
        PyObject *v;
        if (id < n_objs) {
            v = objs[id];
#ifndef Py_GIL_DISABLED
            if (v != run) {
                if (run) Py_SET_REFCNT(run, Py_REFCNT(run) + run_n);
                run = v;
                run_n = 0;
            }
            run_n++;
#else
            Py_INCREF(v);
#endif
        } else if (!(v = PyLong_FromLong(ids->p[k]))) {
#ifndef Py_GIL_DISABLED
            if (run) Py_SET_REFCNT(run, Py_REFCNT(run) + run_n);
#endif
            for (size_t q = k; q < ids->n; q++) items[q] = NULL;  /* PyList_New left them NULL: keep it so */
            Py_DECREF(list);
            return NULL;
        }
        items[k] = v;
    }
#ifndef Py_GIL_DISABLED
    if (run) Py_SET_REFCNT(run, Py_REFCNT(run) + run_n);
#endif
    PyObject_GC_UnTrack(list);  /* only ints: no cycle to find, and no collector pass over every id (see _bpe.c) */
    return list;
}

/* one shared int object per id the model can emit (its pieces, bytes and unknown id) */
static int id_objs_build(SPModel *m) {
    int32_t top = m->unk_id;
    for (uint32_t i = 0; i < m->n_pieces; i++) if (m->pieces[i].id > top) top = m->pieces[i].id;
    if (m->byte_fallback) for (int b = 0; b < 256; b++) if (m->byte_ids[b] > top) top = m->byte_ids[b];
    if (top < 0 || top > (1 << 24)) return 0;  /* odd ids: made one by one */
    m->id_objs = calloc((size_t)top + 1, sizeof(PyObject *));
    if (!m->id_objs) return -1;
    m->n_id_objs = top + 1;  /* before filling: dealloc drops whatever was made */
    for (int32_t k = 0; k <= top; k++)
        if (!(m->id_objs[k] = PyLong_FromLong(k))) return -1;
    return 0;
}

static int get_utf8(PyObject *text, const uint8_t **s, Py_ssize_t *n) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "text must be str");
        return -1;
    }
    *s = (const uint8_t *)PyUnicode_AsUTF8AndSize(text, n);
    return *s ? 0 : -1;
}

static PyObject *SPModel_normalize(SPModel *m, PyObject *text) {
    const uint8_t *s;
    Py_ssize_t n;
    if (!m->blob) return PyErr_Format(PyExc_RuntimeError, "SPModel is not initialised");
    if (get_utf8(text, &s, &n)) return NULL;
    Bytes *out = &m->norm_buf;  /* reused, as encode does */
    int rc = normalize(m, s, (size_t)n, out);
    PyObject *res = rc == -1 ? PyErr_NoMemory() : rc == -2 ? PyErr_Format(PyExc_ValueError, "bad charsmap value")
                              : PyBytes_FromStringAndSize((const char *)out->p, (Py_ssize_t)out->n);
    if (out->cap > (1u << 24)) {
        free(out->p);
        memset(out, 0, sizeof(*out));
    }
    return res;
}

static PyObject *SPModel_encode(SPModel *m, PyObject *text) {
    const uint8_t *s;
    Py_ssize_t n;
    if (!m->blob) return PyErr_Format(PyExc_RuntimeError, "SPModel is not initialised");
    if (get_utf8(text, &s, &n)) return NULL;
    Bytes *norm = &m->norm_buf;
    Ints *ids = &m->ids_buf;
    PyObject *res = NULL;
    ids->n = 0;
    int rc = normalize(m, s, (size_t)n, norm);
    if (rc == 0 && norm->n)
        rc = m->unigram ? unigram_words(m, norm->p, norm->n, ids) : bpe_text(m, norm->p, norm->n, ids);
    if (rc == -1)
        PyErr_NoMemory();
    else if (rc == -2)
        PyErr_SetString(PyExc_ValueError, "precompiled_charsmap is invalid (replacement offset out of range)");
    else
        res = ids_to_list(m, ids);
    if (norm->cap > (1u << 24)) {  /* keep reused buffers, but not a huge text's */
        free(norm->p);
        memset(norm, 0, sizeof(*norm));
    }
    if (ids->cap > (1u << 22)) {
        free(ids->p);
        memset(ids, 0, sizeof(*ids));
    }
    if (m->lat_cap > (1u << 20)) {
        free(m->lat_best); free(m->lat_start); free(m->lat_pid);
        m->lat_best = NULL, m->lat_start = m->lat_pid = NULL, m->lat_cap = 0;
    }
    if (m->tmp_buf.cap > (1u << 20)) {
        free(m->tmp_buf.p);
        memset(&m->tmp_buf, 0, sizeof(m->tmp_buf));
    }
    return res;
}

static PyObject *SPModel_cache_info(SPModel *m, PyObject *unused) {
    (void)unused;
    return Py_BuildValue("LLIL", m->hits, m->misses, m->cache_n, m->exact);
}

static PyObject *SPModel_merge_info(SPModel *m, PyObject *unused) {
    (void)unused;
    static const long long none[5] = {0};
    const long long *t = m->scratch ? ((Scratch *)m->scratch)->taken : none;
    return Py_BuildValue("{sLsLsLsLsL}", "long_words", t[0], "from_first_pairs", t[1], "from_runs", t[2],
                         "from_heap", t[3], "from_radix_heap", t[4]);
}

static PyObject *SPModel_unsafe_words(SPModel *m, PyObject *unused) {
    (void)unused;
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    for (size_t off = 0; m->unigram && off < m->uarena.n;) {
        const URec *r = (const URec *)(m->uarena.p + off);
        off += urec_size(r->key_len, r->n_ids, r->n_sc);
        if (r->hmin < r->hmax) continue;
        PyObject *b = PyBytes_FromStringAndSize((const char *)urec_key(r), r->key_len);
        if (!b || PyList_Append(list, b)) {
            Py_XDECREF(b);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(b);
    }
    return list;
}

static PyMethodDef SPModel_methods[] = {
    {"unsafe_words", (PyCFunction)SPModel_unsafe_words, METH_NOARGS,
     "unsafe_words(): cached Unigram words that run exactly (their best path ties within float32 rounding)"},
    {"encode", (PyCFunction)SPModel_encode, METH_O, "encode(text): ids of one text (normalized here)"},
    {"normalize", (PyCFunction)SPModel_normalize, METH_O, "normalize(text): the normalized text as UTF-8"},
    {"cache_info", (PyCFunction)SPModel_cache_info, METH_NOARGS, "cache_info(): (hits, misses, words cached, words run exactly)"},
    {"merge_info", (PyCFunction)SPModel_merge_info, METH_NOARGS,
     "merge_info(): BPE words of more than RADIX_MIN symbols, and where the join keys taken in them came from"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SPModelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenlab.kernels._sp.SPModel",
    .tp_basicsize = sizeof(SPModel),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Compiled SentencePiece tables (BPE or Unigram) for one model",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SPModel_init,
    .tp_dealloc = (destructor)SPModel_dealloc,
    .tp_methods = SPModel_methods,
};

static struct PyModuleDef sp_module = {PyModuleDef_HEAD_INIT, "_sp", "SentencePiece encode kernel", -1, NULL};

PyMODINIT_FUNC PyInit__sp(void) {
    if (PyType_Ready(&SPModelType) < 0) return NULL;
    PyObject *mod = PyModule_Create(&sp_module);
    if (!mod) return NULL;
    Py_INCREF(&SPModelType);
    if (PyModule_AddObject(mod, "SPModel", (PyObject *)&SPModelType) < 0) {
        Py_DECREF(&SPModelType);
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
