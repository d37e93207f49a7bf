/*
 * pmortem native line scanner: one pass over a chunk of container log lines.
 *
 * This is the fast path of parsers/pipeline.py for the line envelopes
 * (`kubectl logs [--prefix] --timestamps`, CRI/containerd). It computes, per line,
 * exactly what the polars reference path computes with its regexes, and says
 * "deferred" for every line where it cannot be sure (a byte >= 0x80 where a
 * Unicode class such as \s, \d or \w would be tested, an envelope that does not
 * fit): those lines go through the polars reference expressions in Python.
 * tests/parsers/test_fastpath.py checks both paths give identical results.
 *
 * Functions:
 *   scan(data, envelope, bom, lits[, split_min])
 *                                    -> per-line arrays (bytearrays) + entities, and
 *                                       per line whether a prefilter literal starts in
 *                                       its payload (Teddy, see "literal search" below);
 *                                       chunks of split_min bytes or more on two threads
 *   assemble(...)                    -> folding, late rejects, tail cut, line
 *                                       index groups and the rows of kept events
 *   strings, join_events, gather, scatter, indices
 *                                    -> copies out of a chunk and its arrays
 *   arrow_export, stream_values      -> columns to and from polars through the Arrow C
 *                                       data interface (no pyarrow)
 *
 * Safety: every read is bounds-checked against the line's end; the input is
 * untrusted. No allocation depends on a length read from the input other than
 * the line count, which is bounded by the chunk size.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <string.h>
#ifndef _WIN32
#include <pthread.h>
#endif

#define MAX_LINE_BYTES (1024 * 1024)
#define NONE64 INT64_MIN

/* per-line status */
enum { ST_OK = 0, ST_DEFER = 1, ST_LONG = 2, ST_NUL = 3, ST_UTF8 = 4 };
/* 7: a plain file's JSON line that does not end in '}' (set in Python for deferred lines) */
/* late reject codes (assemble) */
enum { RJ_NO_TS = 5, RJ_BAD_TS = 6 };
/* envelopes */
enum { ENV_KUBECTL = 0, ENV_CRI = 1, ENV_PLAIN = 2 };

/* ------------------------------------------------------------------ helpers */

static inline int is_ws(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13); }
static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static inline int is_word(unsigned char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

/* a == b over n bytes, 8 at a time (short keys: cheaper than a memcmp call) */
static inline int same_bytes(const unsigned char *a, const unsigned char *b, Py_ssize_t n) {
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y) return 0;
    }
    for (; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}


/* A matcher examining byte c for a Unicode class (\s \d \w \S): a non-ASCII byte
 * could be in the class, so the line's answer is not decidable here. */
#define TAINT_IF_HIGH(c, taint) do { if ((c) >= 0x80) (taint) = 1; } while (0)

/* Code point of the (valid) UTF-8 sequence starting at s[i]. */
static uint32_t cp_at(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) {
    unsigned char c = s[i];
    if (c < 0x80) return c;
    if (c < 0xE0 && i + 1 < n) return ((uint32_t)(c & 0x1F) << 6) | (s[i + 1] & 0x3F);
    if (c < 0xF0 && i + 2 < n) return ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
    if (i + 3 < n)
        return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3F) << 12) | ((uint32_t)(s[i + 2] & 0x3F) << 6) |
               (s[i + 3] & 0x3F);
    return 0xFFFD;
}

/* Code point of the sequence that ends just before s[i]. */
static uint32_t cp_before(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) {
    Py_ssize_t j = i - 1;
    while (j > 0 && (s[j] & 0xC0) == 0x80 && i - j < 4) j--;
    return cp_at(s, n, j);
}

/* Unicode White_Space, what Rust's \s matches. */
static int is_uws(uint32_t c) {
    return c == ' ' || (c >= 9 && c <= 13) || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Could c be a decimal digit (Unicode Nd, Rust's \d)? False only for blocks known to hold
 * none: Latin-1 and Latin Extended, Greek, Cyrillic, Armenian, Hebrew, general
 * punctuation and symbols, CJK, kana, Hangul, emoji. True (undecidable here) elsewhere. */
static int maybe_nd(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    if (c <= 0x05FF) return 0;
    if (c >= 0x2000 && c <= 0x2BFF) return 0;
    if (c >= 0x2E80 && c <= 0x9FFF) return 0;
    if (c >= 0xAC00 && c <= 0xD7AF) return 0;
    if (c >= 0x1F000 && c <= 0x1FAFF) return 0;
    return 1;
}

/* a high byte where \s (resp. \d) is tested: undecidable only if it could be one */
#define TAINT_IF_WS(p, n, i, taint) do { if ((p)[i] >= 0x80 && is_uws(cp_at((p), (n), (i)))) (taint) = 1; } while (0)
#define TAINT_IF_DIGIT(p, n, i, taint) do { if ((p)[i] >= 0x80 && maybe_nd(cp_at((p), (n), (i)))) (taint) = 1; } while (0)

/* Strict UTF-8 validation as Python's decoder does it (no overlongs, surrogates
 * or code points above U+10FFFF). */
static int utf8_valid(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n) return 0;
            unsigned char c1 = s[i + 1], c2 = s[i + 2];
            if ((c1 & 0xC0) != 0x80 || (c2 & 0xC0) != 0x80) return 0;
            if (c == 0xE0 && c1 < 0xA0) return 0;  /* overlong */
            if (c == 0xED && c1 >= 0xA0) return 0; /* surrogate */
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n) return 0;
            unsigned char c1 = s[i + 1], c2 = s[i + 2], c3 = s[i + 3];
            if ((c1 & 0xC0) != 0x80 || (c2 & 0xC0) != 0x80 || (c3 & 0xC0) != 0x80) return 0;
            if (c == 0xF0 && c1 < 0x90) return 0;
            if (c == 0xF4 && c1 >= 0x90) return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

/* Byte length of the first `chars` characters of valid UTF-8 text (polars str.slice). */
static Py_ssize_t head_bytes(const unsigned char *s, Py_ssize_t n, Py_ssize_t chars, int ascii) {
    if (ascii) return n < chars ? n : chars;
    Py_ssize_t seen = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            if (seen == chars) return i;
            seen++;
        }
    }
    return n;
}

/* The line starting at q: its newline (NULL: none before end), and in *flags what
 * high_or_nul says of the bytes before it. One pass for both. */
static inline const unsigned char *line_end(const unsigned char *q, const unsigned char *end, int *flags) {
    const unsigned char *p = q;
    int f = 0;
#ifdef __SSE2__
    const __m128i nl = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
    __m128i acc_hi = zero, acc_z = zero;
    for (; p + 16 <= end; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl));
        __m128i z = _mm_cmpeq_epi8(v, zero);
        if (m) {
            unsigned before = (1u << __builtin_ctz(m)) - 1; /* the bytes before the newline */
            f = (_mm_movemask_epi8(acc_hi) || (_mm_movemask_epi8(v) & before) ? 1 : 0) |
                (_mm_movemask_epi8(acc_z) || (_mm_movemask_epi8(z) & before) ? 2 : 0);
            *flags = f;
            return p + __builtin_ctz(m);
        }
        acc_hi = _mm_or_si128(acc_hi, v);
        acc_z = _mm_or_si128(acc_z, z);
    }
    f = (_mm_movemask_epi8(acc_hi) ? 1 : 0) | (_mm_movemask_epi8(acc_z) ? 2 : 0);
#endif
    for (; p < end; p++) {
        if (*p == '\n') { *flags = f; return p; }
        if (*p & 0x80) f |= 1;
        if (*p == 0) f |= 2;
    }
    *flags = f;
    return NULL;
}

/* The first index in [from, to) of a byte <= 0x20 (space, controls) or >= 0x80; `to` if none. */
static Py_ssize_t first_low_or_high(const unsigned char *s, Py_ssize_t from, Py_ssize_t to) {
    Py_ssize_t i = from;
#ifdef __SSE2__
    const __m128i space = _mm_set1_epi8(0x20), zero = _mm_setzero_si128();
    for (; i + 16 <= to; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        int m = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_subs_epu8(v, space), zero)) | _mm_movemask_epi8(v);
        if (m) return i + __builtin_ctz((unsigned)m);
    }
#endif
    for (; i < to; i++)
        if (s[i] <= 0x20 || s[i] >= 0x80) return i;
    return to;
}

static Py_ssize_t count_newlines(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t c = 0, i = 0;
#ifdef __SSE2__
    /* per-byte counters (a match is 0xFF = -1, subtracted), folded with SAD every 255 blocks */
    const __m128i nl = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
    while (i + 16 <= n) {
        __m128i acc = zero;
        for (int k = 0; k < 255 && i + 16 <= n; k++, i += 16)
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + i)), nl));
        __m128i sums = _mm_sad_epu8(acc, zero);
        c += (Py_ssize_t)_mm_cvtsi128_si32(sums) + (Py_ssize_t)_mm_cvtsi128_si32(_mm_srli_si128(sums, 8));
    }
#endif
    for (; i < n; i++) c += s[i] == '\n';
    return c;
}

static int has_high(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL) return 1;
    }
    for (; i < n; i++)
        if (s[i] & 0x80) return 1;
    return 0;
}

static inline int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static inline int days_in_month(int y, int m) {
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

static inline int d2(const unsigned char *p) { return (p[0] - '0') * 10 + (p[1] - '0'); }

/* RFC 3339 as the envelope regex has it:
 *   \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)
 * at s[0..n). Returns its length or 0. Sets *taint when a \d test met a high byte. */
/* The date-hour-minute text of the last timestamp whose shape was checked: consecutive
 * lines mostly share it, and then only the seconds and what follows need checking. */
typedef struct {
    unsigned char p[17];
    int valid;
} ShapeCache;

static Py_ssize_t match_rfc3339(const unsigned char *s, Py_ssize_t n, int *taint, ShapeCache *sc) {
    static const signed char shape[19] = {1, 1, 1, 1, '-', 1, 1, '-', 1, 1, 'T', 1, 1, ':', 1, 1, ':', 1, 1};
    if (n >= 19 && sc->valid && memcmp(s, sc->p, 17) == 0) {
        for (int i = 17; i < 19; i++)
            if (!is_digit(s[i])) { TAINT_IF_DIGIT(s, n, i, *taint); return 0; }
        goto rest;
    }
    if (n < 19) {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (shape[i] == 1) { if (!is_digit(s[i])) { TAINT_IF_DIGIT(s, n, i, *taint); return 0; } }
            else if (s[i] != (unsigned char)shape[i]) return 0;
        }
        return 0;
    }
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return 0;
    for (int i = 0; i < 19; i++) {
        if (shape[i] == 1 && !is_digit(s[i])) { TAINT_IF_DIGIT(s, n, i, *taint); return 0; }
    }
    memcpy(sc->p, s, 17);
    sc->valid = 1;
rest:;
    Py_ssize_t i = 19;
    if (i < n && s[i] == '.') {
        Py_ssize_t j = i + 1;
        while (j < n && is_digit(s[j])) j++;
        if (j < n) TAINT_IF_DIGIT(s, n, j, *taint);
        if (j > i + 1) i = j; /* else: the optional group does not match; '.' is no zone */
    }
    if (i >= n) return 0;
    if (s[i] == 'Z') return i + 1;
    if (s[i] != '+' && s[i] != '-') return 0;
    i++;
    for (int k = 0; k < 2; k++, i++) {
        if (i >= n) return 0;
        if (!is_digit(s[i])) { TAINT_IF_DIGIT(s, n, i, *taint); return 0; }
    }
    if (i < n && s[i] == ':') {
        /* `:?` is greedy; without the colon the next char (':') is no digit either */
        i++;
    }
    for (int k = 0; k < 2; k++, i++) {
        if (i >= n) return 0;
        if (!is_digit(s[i])) { TAINT_IF_DIGIT(s, n, i, *taint); return 0; }
    }
    return i;
}

/* Minute (epoch minutes) of a matched RFC 3339 text, validated like Python's
 * datetime.fromisoformat(text[:16] + ":00" + zone); NONE64 when invalid.
 * Also the full time in epoch microseconds (fraction truncated), NONE64 if invalid. */
/* The minute of the previous line's timestamp, keyed by its date-hour-minute text and zone:
 * consecutive lines mostly share them, and then only seconds and fraction need reading. */
typedef struct {
    unsigned char key[16 + 8];
    Py_ssize_t zlen;
    int64_t minute;
    int om;
    int valid;
} MinuteCache;

static void rfc3339_times(const unsigned char *s, Py_ssize_t n, int64_t *minute, int64_t *us, MinuteCache *mc) {
    *minute = NONE64;
    *us = NONE64;
    Py_ssize_t i = 19;
    int64_t frac_us = 0;
    int frac_digits = 0;
    if (s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i])) {
            if (frac_digits < 6) frac_us = frac_us * 10 + (s[i] - '0');
            frac_digits++;
            i++;
        }
        for (int k = frac_digits; k < 6; k++) frac_us *= 10;
    }
    int sec = d2(s + 17);
    Py_ssize_t zlen = n - i; /* the zone: Z, +HH:MM or +HHMM */
    int64_t m;
    int om = 0;
    uint64_t k0, k1, c0, c1;
    memcpy(&k0, s, 8);
    memcpy(&k1, s + 8, 8);
    memcpy(&c0, mc->key, 8);
    memcpy(&c1, mc->key + 8, 8);
    int zsame = mc->valid && zlen == mc->zlen && zlen <= 8 && k0 == c0 && k1 == c1;
    for (Py_ssize_t z = 0; zsame && z < zlen; z++) zsame = mc->key[16 + z] == s[i + z];
    if (zsame) {
        m = mc->minute;
        om = mc->om;
    } else {
        int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        int mo = d2(s + 5), d = d2(s + 8), h = d2(s + 11), mi = d2(s + 14);
        if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59) return;
        int off = 0;
        if (s[i] != 'Z') {
            int sign = s[i] == '-' ? -1 : 1;
            int oh = d2(s + i + 1);
            Py_ssize_t j = i + 3;
            if (s[j] == ':') j++;
            om = d2(s + j);
            if (oh * 60 + om >= 24 * 60) return;
            off = sign * (oh * 60 + om);
        }
        m = days_from_civil(y, (unsigned)mo, (unsigned)d) * 1440 + h * 60 + mi - off;
        if (zlen <= 8) {
            memcpy(mc->key, s, 16);
            memcpy(mc->key + 16, s + i, (size_t)zlen);
            mc->zlen = zlen;
            mc->minute = m;
            mc->om = om;
            mc->valid = 1;
        }
    }
    *minute = m;
    /* the full time only where polars' %S%.f%#z parse agrees; elsewhere polars parses it.
     * polars (chrono) takes any number of fraction digits and truncates to microseconds,
     * and reads a leap second :60 as the next minute's :00 (10:00:60.5 is 10:01:00.5):
     * both done here too, or first_ts/last_ts fell back to the start of the minute. */
    if (sec <= 60 && om <= 59) *us = m * 60000000LL + (int64_t)sec * 1000000LL + frac_us;
}

/* ------------------------------------------------------------------ levels */

/* trace0 debug1 info2 warn3 error4 fatal5; -1 none. The word lower-cased, then
 * PINO_LEVELS / TEXT_LEVELS of parsers/payloads.py. */
static int level_of_word(const unsigned char *w, Py_ssize_t n) {
    char b[9];
    if (n <= 0 || n > 8) return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = w[i];
        if (c >= 'A' && c <= 'Z') c |= 0x20;
        b[i] = (char)c;
    }
    b[n] = 0;
#define IS(lit) (n == (Py_ssize_t)sizeof(lit) - 1 && memcmp(b, lit, sizeof(lit) - 1) == 0)
    switch (b[0]) {
    case '1': return IS("10") ? 0 : -1;
    case '2': return IS("20") ? 1 : -1;
    case '3': return IS("30") ? 2 : -1;
    case '4': return IS("40") ? 3 : -1;
    case '5': return IS("50") ? 4 : -1;
    case '6': return IS("60") ? 5 : -1;
    case 't': return IS("trace") ? 0 : -1;
    case 'd': return IS("debug") ? 1 : -1;
    case 'f': return IS("fine") ? 1 : IS("fatal") ? 5 : -1;
    case 'i': return IS("info") ? 2 : -1;
    case 'n': return IS("notice") ? 2 : -1;
    case 'w': return IS("warn") || IS("warning") ? 3 : -1;
    case 'e': return IS("error") || IS("err") ? 4 : IS("emerg") ? 5 : -1;
    case 's': return IS("severe") ? 4 : -1;
    case 'c': return IS("crit") || IS("critical") ? 5 : -1;
    case 'a': return IS("alert") ? 5 : -1;
    case 'p': return IS("panic") ? 5 : -1;
    default: return -1;
    }
#undef IS
}

/* JSON_LEVEL_RE: "(?:level|severity|log\.level|levelname)"\s*:\s*"?([A-Za-z]+|\d+)
 * leftmost match over the whole payload; the captured word, mapped. */
static int json_level(const unsigned char *p, Py_ssize_t n, int *taint) {
    static const char *keys[] = {"level\"", "severity\"", "log.level\"", "levelname\""};
    static const Py_ssize_t klens[] = {6, 9, 10, 10};
    for (Py_ssize_t q = 0; q < n; q++) {
        const unsigned char *qp = memchr(p + q, '"', (size_t)(n - q));
        if (!qp) return -1;
        q = qp - p;
        if (q + 1 >= n || (p[q + 1] != 'l' && p[q + 1] != 's')) continue; /* every key starts so */
        for (int k = 0; k < 4; k++) {
            Py_ssize_t kl = klens[k];
            if (q + 1 + kl > n || !same_bytes(p + q + 1, (const unsigned char *)keys[k], kl)) continue;
            Py_ssize_t i = q + 1 + kl;
            while (i < n && is_ws(p[i])) i++;
            if (i < n) TAINT_IF_WS(p, n, i, *taint);
            if (i >= n || p[i] != ':') continue;
            i++;
            while (i < n && is_ws(p[i])) i++;
            if (i < n) TAINT_IF_WS(p, n, i, *taint);
            int quoted = 0;
            if (i < n && p[i] == '"') { i++; quoted = 1; }
            if (i < n && is_alpha(p[i])) {
                Py_ssize_t j = i;
                while (j < n && is_alpha(p[j])) j++;
                return level_of_word(p + i, j - i);
            }
            if (i < n && is_digit(p[i])) {
                Py_ssize_t j = i;
                while (j < n && is_digit(p[j])) j++;
                if (j < n) TAINT_IF_DIGIT(p, n, j, *taint);
                return level_of_word(p + i, j - i);
            }
            if (i < n) TAINT_IF_DIGIT(p, n, i, *taint);
            (void)quoted; /* without the quote the next char is '"': no letter, no digit */
        }
    }
    return -1;
}

/* TEXT_LEVEL_RE's words in its alternation order (upper-case list, then lower-case). */
static const char *LEVEL_WORDS[] = {"TRACE", "DEBUG", "FINE", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "ERR",
                                    "SEVERE", "CRIT", "CRITICAL", "FATAL", "PANIC", "trace", "debug", "info",
                                    "notice", "warn", "warning", "error", "fatal", "panic", "crit", "alert", "emerg"};
#define N_LEVEL_WORDS ((int)(sizeof(LEVEL_WORDS) / sizeof(LEVEL_WORDS[0])))
static int level_word_len[N_LEVEL_WORDS];
static unsigned char level_first[256]; /* 1: some level word starts with this byte */
static unsigned char before_or_high[256]; /* TEXT_LEVEL_RE's [\s\[|:] or a byte >= 0x80 */
/* the level words starting with a byte, in alternation order, -1 terminated */
#define MAX_SAME_FIRST 4
static signed char words_by_first[256][MAX_SAME_FIRST + 1];

static int level_word_level[N_LEVEL_WORDS]; /* level_of_word of each */

static void init_tables(void) {
    memset(words_by_first, -1, sizeof(words_by_first));
    for (int k = 0; k < N_LEVEL_WORDS; k++) {
        unsigned char c0 = (unsigned char)LEVEL_WORDS[k][0];
        level_word_len[k] = (int)strlen(LEVEL_WORDS[k]);
        level_word_level[k] = level_of_word((const unsigned char *)LEVEL_WORDS[k], level_word_len[k]);
        level_first[c0] = 1;
        int j = 0;
        while (words_by_first[c0][j] >= 0) j++;
        words_by_first[c0][j] = (signed char)k; /* at most MAX_SAME_FIRST per byte in LEVEL_WORDS */
    }
    for (int c = 0; c < 256; c++)
        before_or_high[c] = c >= 0x80 || c == ' ' || (c >= 9 && c <= 13) || c == '[' || c == '|' || c == ':';
}

static inline int before_delim(unsigned char c) { return is_ws(c) || c == '[' || c == '|' || c == ':'; }
static inline int after_delim(unsigned char c) { return is_ws(c) || c == ']' || c == '|' || c == ':' || c == ','; }

/* TEXT_LEVEL_RE's `/[A-Za-z][A-Za-z0-9_-]*\]` after a level word, from i (Celery's
 * `ERROR/MainProcess]`): ASCII only, so no Unicode class to taint. */
static int process_tail(const unsigned char *h, Py_ssize_t hn, Py_ssize_t i) {
    if (i >= hn || !((h[i] | 0x20) >= 'a' && (h[i] | 0x20) <= 'z')) return 0;
    for (i++; i < hn; i++) {
        unsigned char c = h[i];
        if (c == ']') return 1;
        if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return 0;
    }
    return 0;
}

/* The level word at w in head[0..hn), followed by end-of-head or a delimiter; -2: none. */
static int level_word_at(const unsigned char *h, Py_ssize_t hn, Py_ssize_t w, int *taint) {
    const signed char *ks = words_by_first[h[w]];
    for (int j = 0; ks[j] >= 0; j++) {
        int k = ks[j];
        Py_ssize_t wl = level_word_len[k];
        if (w + wl > hn || !same_bytes(h + w, (const unsigned char *)LEVEL_WORDS[k], wl)) continue;
        if (w + wl == hn) return level_word_level[k];
        unsigned char c = h[w + wl];
        if (after_delim(c)) return level_word_level[k];
        if (c == '/' && process_tail(h, hn, w + wl + 1)) return level_word_level[k];
        TAINT_IF_WS(h, hn, w + wl, *taint);
    }
    return -2;
}

/* NGINX_ERROR_LEVEL_RE ^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] then TEXT_LEVEL_RE,
 * over the head (first 160 chars) of a text payload. */
static int text_level(const unsigned char *h, Py_ssize_t hn, int *taint) {
    static const char shape[] = "dddd/dd/dd dd:dd:dd [";
    Py_ssize_t i = 0;
    int nginx = 1;
    for (; i < 21; i++) {
        if (i >= hn) { nginx = 0; break; }
        unsigned char c = h[i];
        if (shape[i] == 'd') {
            if (!is_digit(c)) { TAINT_IF_DIGIT(h, hn, i, *taint); nginx = 0; break; }
        } else if (c != (unsigned char)shape[i]) { nginx = 0; break; }
    }
    if (nginx) {
        Py_ssize_t j = i;
        while (j < hn && is_word(h[j])) j++;
        if (j < hn) TAINT_IF_HIGH(h[j], *taint);
        if (j > i && j < hn && h[j] == ']') return level_of_word(h + i, j - i) ;
    }
    /* leftmost level word at 0 or after a delimiter (or a high byte: Unicode whitespace?) */
    if (hn > 0 && level_first[h[0]]) {
        int lv = level_word_at(h, hn, 0, taint);
        if (lv != -2) return lv;
    }
#define LEVEL_CANDIDATE(w)                                                                                   \
    do {                                                                                                     \
        Py_ssize_t w_ = (w);                                                                                 \
        if (level_first[h[w_]]) {                                                                            \
            unsigned char b_ = h[w_ - 1];                                                                    \
            if (!before_delim(b_)) {                                                                         \
                /* a high byte before a level word could be Unicode whitespace */                           \
                if (b_ >= 0x80 && is_uws(cp_before(h, hn, w_)) && level_word_at(h, hn, w_, taint) != -2)    \
                    *taint = 1;                                                                              \
            } else {                                                                                         \
                int lv_ = level_word_at(h, hn, w_, taint);                                                   \
                if (lv_ != -2) return lv_;                                                                   \
            }                                                                                                \
        }                                                                                                    \
    } while (0)
    /* c: the byte before a candidate; candidates w = c + 1 < hn */
    Py_ssize_t c = 0;
#ifdef __SSE2__
    const __m128i sp = _mm_set1_epi8(' '), lb = _mm_set1_epi8('['), bar = _mm_set1_epi8('|'), col = _mm_set1_epi8(':'),
                  nine = _mm_set1_epi8(9), four = _mm_set1_epi8(4), zero = _mm_setzero_si128();
    for (; c + 16 <= hn - 1; c += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(h + c));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, lb)),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, bar), _mm_cmpeq_epi8(v, col)));
        /* 9..13: (c - 9) wrapped, minus 4 saturated, is 0 */
        m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_subs_epu8(_mm_sub_epi8(v, nine), four), zero));
        unsigned mask = (unsigned)_mm_movemask_epi8(m) | (unsigned)_mm_movemask_epi8(v);
        while (mask) {
            LEVEL_CANDIDATE(c + __builtin_ctz(mask) + 1);
            mask &= mask - 1;
        }
    }
#endif
    for (; c < hn - 1; c++)
        if (before_or_high[h[c]]) LEVEL_CANDIDATE(c + 1);
#undef LEVEL_CANDIDATE
    return -1;
}

/* ------------------------------------------------------------------ continuation */

static int starts(const unsigned char *p, Py_ssize_t n, Py_ssize_t at, const char *lit) {
    Py_ssize_t l = (Py_ssize_t)strlen(lit);
    return at + l <= n && memcmp(p + at, lit, (size_t)l) == 0;
}

/* (?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)(?::|$) at 0 */
static int java_exception(const unsigned char *p, Py_ssize_t n, int *taint) {
    Py_ssize_t r = 0;
    while (r < n && (is_word(p[r]) || p[r] == '$' || p[r] == '.')) r++;
    if (r < n) {
        TAINT_IF_HIGH(p[r], *taint);
        if (p[r] != ':') return 0;
    }
    /* p[0..r) = seg(.seg)+ */
    Py_ssize_t last = -1;
    for (Py_ssize_t i = 0; i < r; i++)
        if (p[i] == '.') last = i;
    if (last < 0) return 0;
    Py_ssize_t s = 0;
    for (Py_ssize_t i = 0; i <= r; i++) {
        if (i == r || p[i] == '.') {
            if (i == s) return 0; /* empty segment */
            unsigned char c = p[s];
            if (!(is_alpha(c) || c == '_' || c == '$')) return 0;
            s = i + 1;
        }
    }
    const unsigned char *f = p + last + 1;
    Py_ssize_t fl = r - last - 1;
    if (!(f[0] >= 'A' && f[0] <= 'Z')) return 0;
    static const char *sfx[] = {"Exception", "Error", "Throwable"};
    for (int k = 0; k < 3; k++) {
        Py_ssize_t sl = (Py_ssize_t)strlen(sfx[k]);
        if (fl >= sl + 1 && memcmp(f + fl - sl, sfx[k], (size_t)sl) == 0) return 1;
    }
    return 0;
}

static Py_ssize_t skip_digits(const unsigned char *p, Py_ssize_t n, Py_ssize_t i, int *taint) {
    while (i < n && is_digit(p[i])) i++;
    if (i < n) TAINT_IF_DIGIT(p, n, i, *taint);
    return i;
}

static Py_ssize_t skip_hex(const unsigned char *p, Py_ssize_t n, Py_ssize_t i) {
    while (i < n && (is_digit(p[i]) || (p[i] >= 'a' && p[i] <= 'f'))) i++;
    return i;
}

/* CONTINUATION_RE (parsers/payloads.py), anchored at the payload start. */
static int continuation(const unsigned char *p, Py_ssize_t n, int *taint) {
    Py_ssize_t w = 0;
    while (w < n && is_ws(p[w])) w++;
    if (w == n) return 1;                       /* \s*$ */
    if (p[w] >= 0x80) {
        if (w >= 2) return 1;                   /* \s{2,}\S or \s*$ either way */
        uint32_t c = cp_at(p, n, w);
        /* only Unicode whitespace (the \s runs) or a digit (\s*\d+: 0x..) could match here */
        if (is_uws(c) || maybe_nd(c)) { *taint = 1; return 0; }
        if (w > 0) return 0;                    /* every other alternative needs ASCII at w */
        return 0;                               /* at 0: all anchored alternatives start with ASCII */
    }
    if (w >= 2) return 1;                       /* \s{2,}\S: util.inspect's `  errno: -24,` too */
    if (p[w] == '}' || p[w] == ']') {           /* \s*[}\]][)}\],;]*\s*$: a printed object's lone tail */
        Py_ssize_t i = w + 1;
        while (i < n && (p[i] == '}' || p[i] == ']' || p[i] == ')' || p[i] == ',' || p[i] == ';')) i++;
        while (i < n && is_ws(p[i])) i++;
        if (i == n) return 1;
        TAINT_IF_WS(p, n, i, *taint);           /* Unicode whitespace to the end would match too */
        return 0;                               /* no other alternative starts with a bracket */
    }
    if (w >= 1 && (starts(p, n, w, "at ") || starts(p, n, w, "... "))) return 1;
    if (starts(p, n, w, "... ")) {              /* \s*\.\.\. \d+ (?:more|common frames omitted) */
        Py_ssize_t i = w + 4, j = skip_digits(p, n, w + 4, taint);
        if (j > i && (starts(p, n, j, " more") || starts(p, n, j, " common frames omitted"))) return 1;
    }
    {                                           /* \s*\d+: 0x[0-9a-f]+  */
        Py_ssize_t j = skip_digits(p, n, w, taint);
        if (j > w && starts(p, n, j, ": 0x")) {
            Py_ssize_t k = skip_hex(p, n, j + 4);
            if (k > j + 4 && k < n && p[k] == ' ') return 1;
        }
    }
    if (w > 0) return 0;                        /* the rest is anchored at 0 */
    if (starts(p, n, 0, "Caused by: ") || starts(p, n, 0, "Suppressed: ")) return 1;
    if (starts(p, n, 0, "<--- JS stacktrace --->") || starts(p, n, 0, "----- Native stack trace -----")) return 1;
    if (starts(p, n, 0, "FATAL ERROR: ")) {
        static const char lit[] = "JavaScript heap out of memory";
        const unsigned char *rest = p + 13;
        Py_ssize_t rn = n - 13;
        Py_ssize_t ll = (Py_ssize_t)(sizeof(lit) - 1);
        /* `.` does not match \n; a payload holds none */
        for (Py_ssize_t i = 0; i + ll <= rn; i++) {
            const unsigned char *f = memchr(rest + i, 'J', (size_t)(rn - i));
            if (!f) break;
            i = f - rest;
            if (i + ll <= rn && memcmp(f, lit, (size_t)ll) == 0) return 1;
        }
    }
    if (p[0] == '[') {                          /* \[\d+:0x[0-9a-f]+\]\s+\d+ ms:  */
        Py_ssize_t j = skip_digits(p, n, 1, taint);
        if (j > 1 && starts(p, n, j, ":0x")) {
            Py_ssize_t k = skip_hex(p, n, j + 3);
            if (k > j + 3 && k < n && p[k] == ']') {
                Py_ssize_t s = k + 1;
                while (s < n && is_ws(p[s])) s++;
                if (s < n && p[s] >= 0x80) {
                    uint32_t c = cp_at(p, n, s);
                    if (is_uws(c) || maybe_nd(c)) *taint = 1;
                }
                if (s > k + 1) {
                    Py_ssize_t e = skip_digits(p, n, s, taint);
                    if (e > s && starts(p, n, e, " ms: ")) return 1;
                }
            }
        }
    }
    return java_exception(p, n, taint);
}

/* ------------------------------------------------------------------ entities */

typedef struct {
    const unsigned char *key; /* "pod/container" slice in the chunk */
    Py_ssize_t len, pod_len;
    int id;
} Ent;

typedef struct {
    Ent *slots;
    Py_ssize_t cap, count;
    Ent recent[8]; /* the last entities seen: lines of a few pods interleave */
    int next_recent;
} EntTable;

/* word-at-a-time hash of a short key (a few 8-byte words per pod/container name) */
static uint64_t fnv(const unsigned char *s, Py_ssize_t n) {
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ULL;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
    }
    uint64_t w = 0;
    memcpy(&w, s + i, (size_t)(n - i));
    h = (h ^ w) * 0x94D049BB133111EBULL;
    return h ^ (h >> 29);
}

static int ent_id_slow(EntTable *t, const unsigned char *key, Py_ssize_t len, Py_ssize_t pod_len);

/* the last 8 bytes of a key (names differ most at the end: the pod's random suffix) */
static inline uint64_t tail8(const unsigned char *k, Py_ssize_t len) {
    uint64_t w = 0;
    if (len >= 8) memcpy(&w, k + len - 8, 8);
    else memcpy(&w, k, (size_t)len);
    return w;
}

static int ent_id(EntTable *t, const unsigned char *key, Py_ssize_t len, Py_ssize_t pod_len) {
    for (int k = 0; k < 8; k++) {
        Ent *r = &t->recent[k];
        if (r->key && r->len == len && r->pod_len == pod_len && tail8(r->key, len) == tail8(key, len) &&
            same_bytes(r->key, key, len))
            return r->id;
    }
    int id = ent_id_slow(t, key, len, pod_len);
    if (id >= 0) {
        Ent *r = &t->recent[t->next_recent];
        t->next_recent = (t->next_recent + 1) & 7;
        r->key = key;
        r->len = len;
        r->pod_len = pod_len;
        r->id = id;
    }
    return id;
}

static int ent_id_slow(EntTable *t, const unsigned char *key, Py_ssize_t len, Py_ssize_t pod_len) {
    if ((t->count + 1) * 2 > t->cap) {
        Py_ssize_t ncap = t->cap ? t->cap * 2 : 64;
        Ent *ns = calloc((size_t)ncap, sizeof(Ent)); /* no GIL here: plain calloc */
        if (!ns) return -2;
        for (Py_ssize_t i = 0; i < t->cap; i++) {
            if (!t->slots[i].key) continue;
            uint64_t h = fnv(t->slots[i].key, t->slots[i].len) & (uint64_t)(ncap - 1);
            while (ns[h].key) h = (h + 1) & (uint64_t)(ncap - 1);
            ns[h] = t->slots[i];
        }
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    uint64_t h = fnv(key, len) & (uint64_t)(t->cap - 1);
    while (t->slots[h].key) {
        Ent *e = &t->slots[h];
        if (e->len == len && e->pod_len == pod_len && memcmp(e->key, key, (size_t)len) == 0) return e->id;
        h = (h + 1) & (uint64_t)(t->cap - 1);
    }
    t->slots[h].key = key;
    t->slots[h].len = len;
    t->slots[h].pod_len = pod_len;
    t->slots[h].id = (int)t->count++;
    return t->slots[h].id;
}

/* ------------------------------------------------------------------ envelopes */

typedef struct {
    Py_ssize_t pay_off;      /* payload start within the line text */
    Py_ssize_t ts_off, ts_len;
    int ent;                 /* -1: none */
    int stream;              /* 0 none, 1 stdout, 2 stderr */
    int partial;
} Env;

/* KUBECTL_HEAD_RE ^((?:\[pod/([^/\]\s]+)/([^\]\s]+)\] )?(RFC3339)(?: |$)) on the first 256 chars.
 * Returns 1 when it fits, 0 when not, and sets *taint when undecidable. */
static int env_kubectl(const unsigned char *s, Py_ssize_t hn, EntTable *ents, Env *e, int *taint, ShapeCache *sc) {
    Py_ssize_t i = 0;
    e->ent = -1;
    e->stream = 0;
    e->partial = 0;
    if (starts(s, hn, 0, "[pod/")) {
        /* a recent entity's key (checked when first seen: no whitespace, high byte or ']'
         * in it, its first '/' at pod_len) followed by "] ": the same prefix again */
        for (int r = 0; r < 8; r++) {
            const Ent *re = &ents->recent[r];
            Py_ssize_t L = re->len;
            if (re->key && L + 6 < hn && s[5 + L] == ']' && s[6 + L] == ' ' && same_bytes(s + 5, re->key, L)) {
                e->ent = re->id;
                i = L + 7;
                goto timestamp;
            }
        }
        /* pod = [5, first '/'), container = (that '/', the first ']'), followed by ' '; no
         * whitespace anywhere in between (it would end either part early: no match) */
        const unsigned char *rb = memchr(s + 5, ']', (size_t)(hn - 5));
        Py_ssize_t k = rb ? rb - s : hn;
        int bad = 0;
        for (Py_ssize_t x = first_low_or_high(s, 5, k); x < k; x = first_low_or_high(s, x + 1, k)) {
            unsigned char c = s[x];
            if (c >= 0x80) { *taint = 1; return 0; }
            if (is_ws(c)) { bad = 1; break; }
        }
        const unsigned char *sl = bad || !rb ? NULL : memchr(s + 5, '/', (size_t)(k - 5));
        if (sl) {
            Py_ssize_t j = sl - s;
            if (j > 5 && k > j + 1 && k + 1 < hn && s[k + 1] == ' ') {
                int id = ent_id(ents, s + 5, k - 5, j - 5);
                if (id == -2) return -1;
                e->ent = id;
                i = k + 2;
            }
        }
    }
timestamp:;
    Py_ssize_t tl = match_rfc3339(s + i, hn - i, taint, sc);
    if (tl == 0 && i > 0) {
        /* the optional prefix group is given up: the timestamp must then start at 0 ('[' can't) */
        return 0;
    }
    if (tl == 0) return 0;
    Py_ssize_t end = i + tl;
    if (end < hn && s[end] != ' ') {
        TAINT_IF_HIGH(s[end], *taint);
        if (i > 0) return 0;
        return 0;
    }
    e->ts_off = i;
    e->ts_len = tl;
    e->pay_off = end < hn ? end + 1 : end;
    return 1;
}

/* CRI_HEAD_RE ^((RFC3339) (stdout|stderr) ([PF])(?::\S*)?(?: |$)) */
static int env_cri(const unsigned char *s, Py_ssize_t hn, Env *e, int *taint, ShapeCache *sc) {
    e->ent = -1;
    Py_ssize_t tl = match_rfc3339(s, hn, taint, sc);
    if (tl == 0) return 0;
    Py_ssize_t i = tl;
    if (i >= hn || s[i] != ' ') return 0;
    i++;
    if (starts(s, hn, i, "stdout")) e->stream = 1;
    else if (starts(s, hn, i, "stderr")) e->stream = 2;
    else return 0;
    i += 6;
    if (i >= hn || s[i] != ' ') return 0;
    i++;
    if (i >= hn || (s[i] != 'P' && s[i] != 'F')) return 0;
    e->partial = s[i] == 'P';
    i++;
    if (i < hn && s[i] == ':') {
        Py_ssize_t j = i + 1;
        while (j < hn && !is_ws(s[j])) {
            if (s[j] >= 0x80) { *taint = 1; return 0; }
            j++;
        }
        if (j == hn) { e->pay_off = j; goto ok; }
        if (s[j] == ' ') { e->pay_off = j + 1; goto ok; }
        return 0; /* other whitespace: neither ' ' nor $ follows, with or without the tag */
    }
    if (i == hn) { e->pay_off = i; goto ok; }
    if (s[i] != ' ') return 0;
    e->pay_off = i + 1;
ok:
    e->ts_off = 0;
    e->ts_len = tl;
    return 1;
}


/* ------------------------------------------------------------------ plain files (issue 18.3)
 * No envelope: the payload is the line, its time the payload's own. Decided here only for
 * the two shapes raw production files are made of; every other line is deferred to the
 * reference (events.payload_timestamps: JSON time fields, then timestamps.extract_timestamps'
 * ordered formats):
 * - a JSON line whose first JSON_TIME_RE match ("time" / "timestamp" / "@timestamp" / "ts" /
 *   "date" : digits) is 9 to 16 plain digits: epoch s / ms / us as parse_json_time reads them;
 * - an access line starting with an IPv4 client address (no earlier format of _SPECS can
 *   match it) with the `clf` format's [dd/Mon/yyyy:HH:MM:SS +zzzz] in its first 100 chars. */

/* JSON_TIME_RE "(?:time|timestamp|@timestamp|ts|date)"\s*:\s*"?([0-9][0-9T:.\-+Z ]*) */
static int plain_json_time(const unsigned char *p, Py_ssize_t n, Py_ssize_t *to, Py_ssize_t *tl, int64_t *us, int *taint) {
    static const char *names[] = {"time", "timestamp", "@timestamp", "ts", "date"};
    for (Py_ssize_t a = 0; a < n; a++) {
        const unsigned char *q = memchr(p + a, '"', (size_t)(n - a));
        if (!q) break;
        a = q - p;
        Py_ssize_t i = -1;
        for (int k = 0; k < 5 && i < 0; k++) {
            Py_ssize_t L = (Py_ssize_t)strlen(names[k]);
            if (a + 1 + L < n && memcmp(p + a + 1, names[k], (size_t)L) == 0 && p[a + 1 + L] == '"') i = a + 2 + L;
        }
        if (i < 0) continue;
        while (i < n && is_ws(p[i])) i++;
        if (i < n && p[i] >= 0x80) { *taint = 1; return 0; }
        if (i >= n || p[i] != ':') continue;
        i++;
        while (i < n && is_ws(p[i])) i++;
        if (i < n && p[i] >= 0x80) { *taint = 1; return 0; }
        if (i < n && p[i] == '"') i++;
        if (i >= n || !is_digit(p[i])) continue;
        Py_ssize_t b = i;
        while (i < n && (is_digit(p[i]) || p[i] == 'T' || p[i] == ':' || p[i] == '.' || p[i] == '-' || p[i] == '+' ||
                         p[i] == 'Z' || p[i] == ' '))
            i++;
        /* only plain digits are decided here (ISO text: the reference) */
        Py_ssize_t L = i - b;
        for (Py_ssize_t k = b; k < i; k++)
            if (!is_digit(p[k])) { *taint = 1; return 0; }
        if (L < 9 || L > 16) { *taint = 1; return 0; }
        int64_t v = 0;
        for (Py_ssize_t k = b; k < i; k++) v = v * 10 + (p[k] - '0');
        /* parse_json_time: > 1e14 us, > 1e11 ms, else s (all exact as doubles below 2^53) */
        if (v >= (1LL << 53)) { *taint = 1; return 0; }
        *us = v > 100000000000000LL ? v : v > 100000000000LL ? v * 1000 : v * 1000000;
        if (*us >= (1LL << 53) || *us > 253402300799999999LL) { *taint = 1; return 0; }
        *to = b;
        *tl = L;
        return 1;
    }
    *taint = 1; /* no time field: extract_timestamps reads the line */
    return 0;
}

static int month_of(const unsigned char *m) {
    static const char *mon = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int k = 0; k < 12; k++)
        if (memcmp(m, mon + 3 * k, 3) == 0) return k + 1;
    return 0;
}

/* an IPv4-led access line's clf time: ^.{0,100}?\[(dd/Mon/yyyy:HH:MM:SS)(?: ([+-]\d{4}))?\]\s* */
static int plain_clf_time(const unsigned char *p, Py_ssize_t n, Py_ssize_t *to, Py_ssize_t *tl, int64_t *us, int *taint) {
    Py_ssize_t lim = n < 256 ? n : 256;
    for (Py_ssize_t k = 0; k < lim; k++)
        if (p[k] >= 0x80) { *taint = 1; return 0; }
    /* first token [0-9.]+ with a '.' in its first 4 bytes (no format before clf starts so),
     * second token not all digits (bgl / thunderbird) */
    Py_ssize_t i = 0;
    while (i < lim && (is_digit(p[i]) || p[i] == '.')) i++;
    if (i == 0 || !is_digit(p[0]) || i >= lim || p[i] != ' ' || !memchr(p, '.', (size_t)(i < 4 ? i : 4))) { *taint = 1; return 0; }
    Py_ssize_t j = i + 1, j0 = j;
    while (j < lim && is_digit(p[j])) j++;
    if (j > j0 && (j >= lim || is_ws(p[j]))) { *taint = 1; return 0; }
    for (Py_ssize_t a = 0; a <= 100 && a < lim; a++) {
        if (p[a] != '[') continue;
        const unsigned char *t = p + a + 1;
        Py_ssize_t r = lim - a - 1;
        if (r < 21) break;
        if (!(is_digit(t[0]) && is_digit(t[1]) && t[2] == '/' && t[6] == '/' && is_digit(t[7]) && is_digit(t[8]) &&
              is_digit(t[9]) && is_digit(t[10]) && t[11] == ':' && is_digit(t[12]) && is_digit(t[13]) && t[14] == ':' &&
              is_digit(t[15]) && is_digit(t[16]) && t[17] == ':' && is_digit(t[18]) && is_digit(t[19])))
            continue;
        int mon = month_of(t + 3);
        if (!mon) continue;
        Py_ssize_t e = 20;
        int off = 0, zone = 0;
        if (r > 26 && t[20] == ' ' && (t[21] == '+' || t[21] == '-') && is_digit(t[22]) && is_digit(t[23]) &&
            is_digit(t[24]) && is_digit(t[25]) && t[26] == ']') {
            zone = 1;
            off = (t[21] == '-' ? -1 : 1) * (d2(t + 22) * 60 + d2(t + 24));
            e = 26;
        }
        if (t[e] != ']') continue;
        if (!zone) { *taint = 1; return 0; } /* wall-clock time in the source's zone: the reference */
        int d = d2(t), y = d2(t + 7) * 100 + d2(t + 9), H = d2(t + 12), M = d2(t + 15), S = d2(t + 18);
        if (d < 1 || d > days_in_month(y, mon) || H > 23 || M > 59 || S > 59) { *taint = 1; return 0; }
        int64_t secs = days_from_civil(y, (unsigned)mon, (unsigned)d) * 86400 + H * 3600 + M * 60 + S - (int64_t)off * 60;
        *us = secs * 1000000;
        *to = a + 1;
        *tl = e;
        return 1;
    }
    *taint = 1;
    return 0;
}

/* ------------------------------------------------------------------ scan */

typedef struct {
    PyObject *obj;
    char *p;
} Arr;

static int arr_new_raw(Arr *a, Py_ssize_t n, size_t elem) {
    a->obj = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(n * (Py_ssize_t)elem));
    if (!a->obj) return -1;
    a->p = PyByteArray_AS_STRING(a->obj);
    return 0;
}

static int arr_new(Arr *a, Py_ssize_t n, size_t elem) {
    if (arr_new_raw(a, n, elem) < 0) return -1;
    if (n) memset(a->p, 0, (size_t)n * elem);
    return 0;
}

struct LitSet;
typedef Py_ssize_t (*lit_line_fn)(const struct LitSet *s, const unsigned char *d, Py_ssize_t from, Py_ssize_t to,
                                  Py_ssize_t n);
static lit_line_fn lit_line_kernel(void);

/* What scan() fills, shared by the threads that scan parts of one chunk. */
typedef struct {
    const unsigned char *d;
    Py_ssize_t len;
    int envelope, bom;
    const struct LitSet *lits;
    lit_line_fn lit_line;
    int64_t *start, *rawlen, *mins, *uss;
    uint8_t *status, *stream, *partial, *isjson, *cont, *hitf;
    int8_t *level;
    int32_t *ent, *pay, *tsoff, *tslen;
    /* request lines (optional: req_cfg NULL): per line the shape of a request line that needs
     * no event (RQ_*, else 0) and its fields (a PReq per line), decided while the line is in
     * cache; see requests_fields */
    const void *req_cfg;
    uint8_t *reqk;
} ScanOut;

struct ScanPart;
static int scan_req_line(const void *cfg, const unsigned char *p, Py_ssize_t n, int is_json, struct ScanPart *part);
static void *scan_req_cfg(PyObject *litcap, Py_buffer *bits, int flags, double slow_ms);
static void preq_shift(unsigned char *recs, Py_ssize_t n, int32_t by);
#define SIZEOF_PREQ 64 /* sizeof(PReq), checked where it is defined */

/* lines [L0, L1) of a chunk, the first starting at q0; entity ids are this part's own */
typedef struct ScanPart {
    const ScanOut *o;
    Py_ssize_t L0, L1;
    const unsigned char *q0;
    EntTable ents;
    /* the fields of this part's request lines, in line order (SIZEOF_PREQ bytes each): kept
     * compact, not a slot per line (most lines of most logs are no request) */
    unsigned char *arena;
    Py_ssize_t na, cap;
    /* and their text fields (route templated), which the records point into */
    unsigned char *text;
    Py_ssize_t ntext, tcap;
    int oom;
} ScanPart;

/* room for `more` bytes at the end of a growable buffer; 0, or -1 (and part->oom) */
static int part_room(ScanPart *part, unsigned char **buf, Py_ssize_t *cap, Py_ssize_t used, Py_ssize_t more) {
    if (used + more <= *cap) return 0;
    Py_ssize_t c = *cap ? *cap : 1 << 16;
    while (c < used + more) c *= 2;
    unsigned char *b = realloc(*buf, (size_t)c);
    if (!b) { part->oom = 1; return -1; }
    *buf = b;
    *cap = c;
    return 0;
}

static void scan_lines(ScanPart *part) {
    const ScanOut *o = part->o;
    const unsigned char *d = o->d;
    Py_ssize_t len = o->len, n = part->L1;
    int envelope = o->envelope, bom = o->bom;
    Py_ssize_t m = part->L1 - part->L0;
    if (m > 0) { /* zero what not every line writes */
        memset(o->stream + part->L0, 0, (size_t)m);
        memset(o->partial + part->L0, 0, (size_t)m);
        memset(o->pay + part->L0, 0, (size_t)m * 4);
        memset(o->tsoff + part->L0, 0, (size_t)m * 4);
        memset(o->tslen + part->L0, 0, (size_t)m * 4);
        memset(o->isjson + part->L0, 0, (size_t)m);
        memset(o->cont + part->L0, 0, (size_t)m);
        memset(o->hitf + part->L0, 0, (size_t)m);
        if (o->reqk) memset(o->reqk + part->L0, 0, (size_t)m);
    }
    MinuteCache mcache;
    memset(&mcache, 0, sizeof(mcache));
    ShapeCache shape;
    memset(&shape, 0, sizeof(shape));
    const unsigned char *q = part->q0;
    for (Py_ssize_t L = part->L0; L < n; L++) {
        int hn0;
        const unsigned char *nl = line_end(q, d + len, &hn0);
        Py_ssize_t raw = nl ? nl - q : d + len - q;
        o->start[L] = q - d;
        o->rawlen[L] = raw;
        o->mins[L] = NONE64;
        o->uss[L] = NONE64;
        o->level[L] = -1;
        o->ent[L] = -1;
        Py_ssize_t body = raw;
        if (body > 0 && q[body - 1] == '\r') body--;
        const unsigned char *s = q;
        Py_ssize_t sn = body;
        if (L == 0 && bom && sn >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) { s += 3; sn -= 3; }
        if (raw > MAX_LINE_BYTES) {
            o->status[L] = ST_LONG;
        } else if (hn0 & 2) {
            o->status[L] = ST_NUL;
        } else {
            int high = hn0 & 1;
            if (high && !utf8_valid(s, sn)) {
                o->status[L] = ST_UTF8;
            } else {
                int taint = 0;
                Env e = {0, 0, 0, -1, 0, 0};
                Py_ssize_t hn = head_bytes(s, sn, 256, !high);
                int ok = envelope == ENV_PLAIN ? 1
                         : envelope == ENV_CRI ? env_cri(s, hn, &e, &taint, &shape)
                                               : env_kubectl(s, hn, &part->ents, &e, &taint, &shape);
                if (ok < 0) { o->status[L] = ST_DEFER; taint = 1; }
                if (!ok || taint) {
                    o->status[L] = ST_DEFER;
                } else {
                    const unsigned char *p = s + e.pay_off;
                    Py_ssize_t pn = sn - e.pay_off;
                    int phigh = high && has_high(p, pn);
                    o->ent[L] = e.ent;
                    o->stream[L] = (uint8_t)e.stream;
                    o->partial[L] = (uint8_t)e.partial;
                    o->pay[L] = (int32_t)(p - q);
                    o->tsoff[L] = (int32_t)(s + e.ts_off - q);
                    o->tslen[L] = (int32_t)e.ts_len;
                    if (envelope != ENV_PLAIN) rfc3339_times(s + e.ts_off, e.ts_len, &o->mins[L], &o->uss[L], &mcache);
                    int js = pn > 0 && p[0] == '{';
                    o->isjson[L] = (uint8_t)js;
                    if (js) {
                        o->level[L] = (int8_t)json_level(p, pn, &taint);
                    } else {
                        Py_ssize_t h160 = head_bytes(p, pn, 160, !phigh);
                        o->level[L] = (int8_t)text_level(p, h160, &taint);
                        o->cont[L] = (uint8_t)continuation(p, pn, &taint);
                    }
                    if (envelope == ENV_PLAIN && !taint) {
                        Py_ssize_t to = 0, tl = 0;
                        int64_t pus = NONE64;
                        int got = js ? plain_json_time(p, pn, &to, &tl, &pus, &taint) : plain_clf_time(p, pn, &to, &tl, &pus, &taint);
                        if (got) {
                            o->uss[L] = pus;
                            o->mins[L] = pus >= 0 ? pus / 60000000 : -((-pus + 59999999) / 60000000);
                            o->tsoff[L] = (int32_t)(p + to - q);
                            o->tslen[L] = (int32_t)tl;
                            o->cont[L] = 0; /* a line with a time of its own continues nothing */
                        }
                        if (js) { /* the reference rejects a JSON line not ending in '}' */
                            Py_ssize_t k = pn;
                            while (k > 0 && is_ws(p[k - 1])) k--;
                            if (k == 0 || p[k - 1] != '}') taint = 1;
                        }
                    }
                    o->status[L] = taint ? ST_DEFER : ST_OK;
                    /* literal hits: does a prefilter literal start inside the payload (while
                     * the line is in cache; deferred lines get the polars answer instead) */
                    if (o->lits && !taint) o->hitf[L] = o->lit_line(o->lits, d, p - d, (q - d) + raw, len) >= 0;
                    if (o->req_cfg && !taint && o->hitf[L] && pn > 0 && !part->oom)
                        o->reqk[L] = (uint8_t)scan_req_line(o->req_cfg, p, pn, js, part);
                }
            }
        }
        if (!nl) break;
        q = nl + 1;
    }
}

#ifndef _WIN32
static void *scan_lines_thread(void *arg) {
    scan_lines((ScanPart *)arg);
    return NULL;
}
#define SCAN_CAN_SPLIT 1
#else
#define SCAN_CAN_SPLIT 0
#endif

/* the second part's entities into the first part's table (ids by first appearance in the
 * chunk, as one pass would number them), and its lines' ids rewritten */
static int merge_ents(ScanPart *a, ScanPart *b, int32_t *ent) {
    Py_ssize_t c = b->ents.count;
    if (c == 0) return 0;
    int *map = malloc((size_t)c * sizeof(int));
    const Ent **byid = calloc((size_t)c, sizeof(Ent *));
    if (!map || !byid) { free(map); free(byid); return -1; }
    for (Py_ssize_t i = 0; i < b->ents.cap; i++)
        if (b->ents.slots[i].key) byid[b->ents.slots[i].id] = &b->ents.slots[i];
    for (Py_ssize_t k = 0; k < c; k++) {
        map[k] = ent_id_slow(&a->ents, byid[k]->key, byid[k]->len, byid[k]->pod_len);
        if (map[k] < 0) { free(map); free(byid); return -1; }
    }
    for (Py_ssize_t L = b->L0; L < b->L1; L++)
        if (ent[L] >= 0) ent[L] = map[ent[L]];
    free(map);
    free(byid);
    return 0;
}

static PyObject *py_scan(PyObject *self, PyObject *args) {
    Py_buffer buf;
    PyObject *litcap;
    int envelope, bom;
    Py_ssize_t split_min = 0;
    PyObject *reqlit = Py_None;
    Py_buffer bits = {0};
    int rflags = 0;
    double slow_ms = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*iiO|nOy*id", &buf, &envelope, &bom, &litcap, &split_min, &reqlit, &bits, &rflags, &slow_ms))
        return NULL;
    const unsigned char *d = buf.buf;
    Py_ssize_t len = buf.len;
    const struct LitSet *lits = NULL;
    if (litcap != Py_None) {
        lits = PyCapsule_GetPointer(litcap, "pmortem.litset");
        if (!lits) { PyBuffer_Release(&buf); if (bits.obj) PyBuffer_Release(&bits); return NULL; }
    }
    void *rcfg = NULL;
    if (reqlit != Py_None) {
        rcfg = scan_req_cfg(reqlit, &bits, rflags, slow_ms);
        if (!rcfg) { PyBuffer_Release(&buf); PyBuffer_Release(&bits); return NULL; }
    }
    if (bits.obj) PyBuffer_Release(&bits); /* (the config keeps its own copy of the bits) */
    PyObject *out = NULL;
    Arr a_reqk = {0}, a_reqs = {0}, a_text = {0};
    ScanPart p1, p2;
    memset(&p1, 0, sizeof(p1));
    memset(&p2, 0, sizeof(p2));

    /* split_min > 0: a chunk of at least that many bytes is scanned by two threads, halves
     * cut at a line end (this one and a pthread; the caller's other core is otherwise idle
     * while it waits for the chunk). The GIL is let go for every pass over the chunk. */
    Py_ssize_t n, n1 = 0;
    const unsigned char *q2 = NULL;
    Py_BEGIN_ALLOW_THREADS
    if (SCAN_CAN_SPLIT && split_min > 0 && len >= split_min) {
        const unsigned char *nl = memchr(d + len / 2, '\n', (size_t)(len - len / 2));
        if (nl && nl + 1 < d + len) {
            q2 = nl + 1;
            n1 = count_newlines(d, q2 - d);
        }
    }
    n = (q2 ? n1 + count_newlines(q2, d + len - q2) : count_newlines(d, len)) + (len > 0 && d[len - 1] != '\n' ? 1 : 0);
    Py_END_ALLOW_THREADS

    Arr a_start, a_len, a_status, a_ent, a_stream, a_partial, a_pay, a_tsoff, a_tslen, a_min, a_us, a_json,
        a_level, a_cont, a_hit;
    Arr *all[] = {&a_start, &a_len, &a_status, &a_ent, &a_stream, &a_partial, &a_pay, &a_tsoff,
                  &a_tslen, &a_min, &a_us, &a_json, &a_level, &a_cont, &a_hit};
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) all[k]->obj = NULL;
    static const size_t elems[] = {8, 8, 1, 4, 1, 1, 4, 4, 4, 8, 8, 1, 1, 1, 1};
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
        if (arr_new_raw(all[k], n, elems[k]) < 0) goto fail;
    if (rcfg && arr_new_raw(&a_reqk, n, 1) < 0) goto fail;

    ScanOut o = {d, len, envelope, bom, lits, lit_line_kernel(),
                 (int64_t *)a_start.p, (int64_t *)a_len.p, (int64_t *)a_min.p, (int64_t *)a_us.p,
                 (uint8_t *)a_status.p, (uint8_t *)a_stream.p, (uint8_t *)a_partial.p, (uint8_t *)a_json.p,
                 (uint8_t *)a_cont.p, (uint8_t *)a_hit.p, (int8_t *)a_level.p,
                 (int32_t *)a_ent.p, (int32_t *)a_pay.p, (int32_t *)a_tsoff.p, (int32_t *)a_tslen.p,
                 rcfg, rcfg ? (uint8_t *)a_reqk.p : NULL};
    p1.o = p2.o = &o;
    p1.L0 = 0;
    p1.q0 = d;
    p1.L1 = q2 ? n1 : n;
    p2.L0 = n1;
    p2.L1 = n;
    p2.q0 = q2;
    int merge_failed = 0;
    Py_BEGIN_ALLOW_THREADS
#if SCAN_CAN_SPLIT
    pthread_t th;
    int threaded = q2 && pthread_create(&th, NULL, scan_lines_thread, &p2) == 0;
    scan_lines(&p1);
    if (q2) {
        if (threaded) pthread_join(th, NULL);
        else scan_lines(&p2);
        merge_failed = merge_ents(&p1, &p2, o.ent) < 0;
    }
#else
    scan_lines(&p1);
#endif
    Py_END_ALLOW_THREADS
    free(p2.ents.slots);
    EntTable ents = p1.ents;
    if (merge_failed || p1.oom || p2.oom) { free(ents.slots); PyErr_NoMemory(); goto fail; }
    if (rcfg) {
        /* the request lines' fields, both parts' in line order (requests_fields finds a line's
         * by its rank among the request lines), and their texts (part 2's after part 1's) */
        if (p1.ntext + p2.ntext > INT32_MAX) { free(ents.slots); PyErr_NoMemory(); goto fail; }
        if (arr_new_raw(&a_reqs, p1.na + p2.na, SIZEOF_PREQ) < 0 || arr_new_raw(&a_text, p1.ntext + p2.ntext, 1) < 0) {
            free(ents.slots);
            goto fail;
        }
        if (p1.na) memcpy(a_reqs.p, p1.arena, (size_t)p1.na * SIZEOF_PREQ);
        if (p2.na) {
            memcpy(a_reqs.p + (size_t)p1.na * SIZEOF_PREQ, p2.arena, (size_t)p2.na * SIZEOF_PREQ);
            preq_shift((unsigned char *)a_reqs.p + (size_t)p1.na * SIZEOF_PREQ, p2.na, (int32_t)p1.ntext);
        }
        if (p1.ntext) memcpy(a_text.p, p1.text, (size_t)p1.ntext);
        if (p2.ntext) memcpy(a_text.p + p1.ntext, p2.text, (size_t)p2.ntext);
    }
    free(p1.arena);
    free(p2.arena);
    free(p1.text);
    free(p2.text);
    p1.arena = p2.arena = p1.text = p2.text = NULL;

    PyObject *ent_list = PyList_New(0);
    if (!ent_list) { free(ents.slots); goto fail; }
    {
        /* ids are dense 0..count-1 */
        PyObject **tmp = PyMem_Calloc((size_t)(ents.count ? ents.count : 1), sizeof(PyObject *));
        int bad = tmp == NULL;
        for (Py_ssize_t i = 0; !bad && i < ents.cap; i++) {
            Ent *e = &ents.slots[i];
            if (!e->key) continue;
            PyObject *t = Py_BuildValue("(s#s#)", (const char *)e->key, e->pod_len,
                                        (const char *)e->key + e->pod_len + 1, e->len - e->pod_len - 1);
            if (!t) { bad = 1; break; }
            tmp[e->id] = t;
        }
        for (Py_ssize_t i = 0; !bad && i < ents.count; i++) {
            if (PyList_Append(ent_list, tmp[i]) < 0) bad = 1;
        }
        for (Py_ssize_t i = 0; tmp && i < ents.count; i++) Py_XDECREF(tmp[i]);
        PyMem_Free(tmp);
        free(ents.slots);
        if (bad) { Py_DECREF(ent_list); goto fail; }
    }
    out = Py_BuildValue("{s:n,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N}",
                        "n", n, "start", a_start.obj, "raw_len", a_len.obj, "status", a_status.obj, "ent", a_ent.obj,
                        "stream", a_stream.obj, "partial", a_partial.obj, "pay_off", a_pay.obj, "ts_off", a_tsoff.obj,
                        "ts_len", a_tslen.obj, "minute", a_min.obj, "ts_us", a_us.obj, "is_json", a_json.obj,
                        "level", a_level.obj, "cont", a_cont.obj, "hit", a_hit.obj, "ents", ent_list);
    if (out && rcfg) {
        if (PyDict_SetItemString(out, "req", a_reqk.obj) < 0 || PyDict_SetItemString(out, "req_fields", a_reqs.obj) < 0 ||
            PyDict_SetItemString(out, "req_text", a_text.obj) < 0)
            Py_CLEAR(out);
    }
    Py_XDECREF(a_reqk.obj);
    Py_XDECREF(a_reqs.obj);
    Py_XDECREF(a_text.obj);
    free(rcfg);
    PyBuffer_Release(&buf);
    return out;
fail:
    free(p1.arena);
    free(p2.arena);
    free(p1.text);
    free(p2.text);
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) Py_XDECREF(all[k]->obj);
    Py_XDECREF(a_reqk.obj);
    Py_XDECREF(a_reqs.obj);
    Py_XDECREF(a_text.obj);
    free(rcfg);
    PyBuffer_Release(&buf);
    return NULL;
}

/* ------------------------------------------------------------------ assemble */

typedef struct {
    int32_t ent;
    int8_t level;
    int64_t minute;
    int64_t lines, first, last, first_off, end_off;
    int used;
} Group;

static PyObject *py_assemble(PyObject *self, PyObject *args) {
    /* arrays from scan (patched for deferred lines in Python) plus env_ok / has_ts */
    Py_buffer b_status, b_envok, b_hasts, b_min, b_us, b_ent, b_stream, b_partial, b_cont, b_level, b_hit, b_start,
        b_len;
    int requires_ts, final, n_ents;
    Py_ssize_t fold_window;
    PyObject *reqobj = Py_None;
    Py_buffer b_req = {0};
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*y*y*y*y*iiin|O", &b_status, &b_envok, &b_hasts, &b_min, &b_us,
                          &b_ent, &b_stream, &b_partial, &b_cont, &b_level, &b_hit, &b_start, &b_len, &requires_ts,
                          &final, &n_ents, &fold_window, &reqobj))
        return NULL;
    /* req (optional, scan()'s request shapes): single-line events of those lines are requests
     * the rollup counts, not events (unless something else keeps them: see pass C) */
    int have_req = reqobj != Py_None;
    if (have_req && PyObject_GetBuffer(reqobj, &b_req, PyBUF_SIMPLE) < 0) {
        Py_buffer *bb[] = {&b_status, &b_envok, &b_hasts, &b_min, &b_us, &b_ent, &b_stream,
                           &b_partial, &b_cont, &b_level, &b_hit, &b_start, &b_len};
        for (size_t k = 0; k < sizeof(bb) / sizeof(bb[0]); k++) PyBuffer_Release(bb[k]);
        return NULL;
    }
    const uint8_t *reqf = have_req ? b_req.buf : NULL;
    Py_buffer *bufs[] = {&b_status, &b_envok, &b_hasts, &b_min, &b_us, &b_ent, &b_stream,
                         &b_partial, &b_cont, &b_level, &b_hit, &b_start, &b_len};
    Py_ssize_t n = b_status.len;
    const uint8_t *status = b_status.buf, *envok = b_envok.buf, *hasts = b_hasts.buf, *stream = b_stream.buf,
                  *partial = b_partial.buf, *contt = b_cont.buf, *hit = b_hit.buf;
    const int8_t *level = b_level.buf;
    const int64_t *mins = b_min.buf, *uss = b_us.buf, *start = b_start.buf, *rawlen = b_len.buf;
    const int32_t *ent = b_ent.buf;
    PyObject *out = NULL;
    int64_t *evt = NULL, *rowline = NULL, *lastpart = NULL, *laststart = NULL, *lastline = NULL;
    uint8_t *code = NULL, *contp = NULL, *sel = NULL, *multi = NULL, *isreq = NULL;
    Group *groups = NULL;
    Py_ssize_t nparts = ((Py_ssize_t)n_ents + 1) * 3;
    if (b_envok.len != n || b_hasts.len != n || b_min.len != 8 * n || b_us.len != 8 * n || b_ent.len != 4 * n ||
        b_stream.len != n || b_partial.len != n || b_cont.len != n || b_level.len != n || b_hit.len != n ||
        b_start.len != 8 * n || b_len.len != 8 * n || (have_req && b_req.len != n)) {
        PyErr_SetString(PyExc_ValueError, "assemble: arrays of different lengths");
        goto done;
    }
    /* no GIL from here to the Python results: the event builder's thread runs meanwhile */
    int err = 0; /* 1: out of range, 2: no memory */
    Py_ssize_t nsel = 0;
    PyThreadState *save = PyEval_SaveThread();
    for (Py_ssize_t i = 0; i < n; i++) {
        if (ent[i] < -1 || ent[i] >= n_ents || stream[i] > 2) {
            err = 1;
            goto nogil_end;
        }
    }
    evt = malloc((size_t)(n ? n : 1) * 8);
    rowline = malloc((size_t)(n ? n : 1) * 8);
    code = calloc((size_t)(n ? n : 1), 1);
    contp = calloc((size_t)(n ? n : 1), 1);
    sel = calloc((size_t)(n ? n : 1), 1);
    multi = calloc((size_t)(n ? n : 1), 1);
    isreq = calloc((size_t)(n ? n : 1), 1);
    lastpart = malloc((size_t)nparts * 8);
    laststart = malloc((size_t)nparts * 8);
    lastline = malloc((size_t)nparts * 8);
    if (!evt || !rowline || !code || !contp || !sel || !multi || !isreq || !lastpart || !laststart || !lastline) { err = 2; goto nogil_end; }

    /* pass A: cont_partial over good lines (before late rejects), late reject codes */
    for (Py_ssize_t k = 0; k < nparts; k++) lastpart[k] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        code[i] = status[i] > ST_DEFER ? status[i] : 0;
        if (code[i]) continue;
        Py_ssize_t part = (ent[i] + 1) * 3 + stream[i];
        contp[i] = (uint8_t)lastpart[part];
        lastpart[part] = partial[i];
        int c = contt[i] || contp[i];
        if (requires_ts && !envok[i] && mins[i] == NONE64 && !c) code[i] = RJ_NO_TS;
        else if (envok[i] && hasts[i] && mins[i] == NONE64) code[i] = RJ_BAD_TS;
    }
    /* pass B: events (a start row and the continuation rows after it in its partition) */
    for (Py_ssize_t k = 0; k < nparts; k++) laststart[k] = lastline[k] = -1;
    Py_ssize_t nrows = 0, last_start_row = -1, last_start_line = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (code[i]) { evt[i] = -1; continue; }
        Py_ssize_t part = (ent[i] + 1) * 3 + stream[i];
        int c = contt[i] || contp[i];
        /* a continuation joins its partition's open event within fold_window lines only */
        if (c && lastline[part] >= 0 && i - lastline[part] > fold_window) c = 0;
        rowline[nrows] = i;
        lastline[part] = i;
        if (!c) {
            evt[i] = i;
            laststart[part] = i;
        } else {
            evt[i] = laststart[part] >= 0 ? laststart[part] : i;
            if (evt[i] != i) multi[evt[i]] = 1;
        }
        if (evt[i] == i) { last_start_row = nrows; last_start_line = i; }
        nrows++;
    }
    /* The cut: the last event start with no line after it belonging to an earlier event
     * (streams and pods interleave: a stack frame or CRI piece after the cut would lose its
     * event), not after a stream whose last piece is a runtime-split (partial) line, nor
     * after the open event of a partition whose last line is within fold_window lines of
     * the chunk's end (a later line could still continue it). */
    Py_ssize_t open_min = n, active_min = n;
    for (Py_ssize_t k = 0; k < nparts; k++) {
        Py_ssize_t i = lastline[k];
        if (i < 0) continue;
        if (partial[i] && evt[i] < open_min) open_min = evt[i];
        /* a partition a later line could still continue: its open event stays for the next chunk */
        if (n - i <= fold_window && evt[i] < active_min) active_min = evt[i];
    }
    /* When that leaves nothing to store (one partition's open event fills the chunk: only
     * with chunks far smaller than the default), the open partitions are not waited for. */
    for (int pass = 0; pass < 2; pass++) {
        Py_ssize_t bound = pass == 0 ? (active_min < open_min ? active_min : open_min) : open_min;
        Py_ssize_t suffix_min = n;
        last_start_row = last_start_line = -1;
        for (Py_ssize_t k = nrows - 1; k >= 0; k--) {
            Py_ssize_t i = rowline[k];
            if (evt[i] < suffix_min) suffix_min = evt[i];
            if (evt[i] == i && suffix_min >= i && i <= bound) {
                last_start_row = k;
                last_start_line = i;
                break;
            }
        }
        if (last_start_row > 0) break;
    }
    Py_ssize_t cut = n; /* lines [cut, n) are left for the next chunk */
    if (!final && last_start_row > 0) cut = last_start_line;

    /* pass C: selection (any hit line, or an error/fatal start), index groups, time span */
    Py_ssize_t gcap = 256, ng = 0;
    groups = calloc((size_t)gcap, sizeof(Group));
    if (!groups) { err = 2; goto nogil_end; }
    int64_t tmin = NONE64, tmax = NONE64;
    Py_ssize_t kept = 0, nstarts = 0, nreq = 0;
    for (Py_ssize_t i = 0; i < cut; i++) {
        if (code[i]) continue;
        Py_ssize_t s = evt[i];
        int8_t lv = level[s];
        /* a request line alone in its event: the rollup counts it, whatever its level */
        if (reqf && reqf[i] && s == i && !multi[i] && !contp[i]) {
            isreq[i] = 1;
            nreq++;
            continue;
        }
        if (hit[i] || lv == 4 || lv == 5) sel[s] = 1;
    }
    for (Py_ssize_t i = 0; i < cut; i++) {
        if (code[i]) continue;
        kept++;
        Py_ssize_t s = evt[i];
        if (s == i) nstarts++;
        int64_t m = mins[i] != NONE64 ? mins[i] : mins[s];
        int8_t lv = level[s];
        int64_t t = uss[i] != NONE64 ? uss[i] : (m != NONE64 ? m * 60000000LL : NONE64);
        if (t != NONE64) {
            if (tmin == NONE64 || t < tmin) tmin = t;
            if (tmax == NONE64 || t > tmax) tmax = t;
        }
        /* group (ent, minute, level): open addressing */
        if ((ng + 1) * 2 > gcap) {
            Py_ssize_t ncap = gcap * 2;
            Group *ngp = calloc((size_t)ncap, sizeof(Group));
            if (!ngp) { err = 2; goto nogil_end; }
            for (Py_ssize_t g = 0; g < gcap; g++) {
                if (!groups[g].used) continue;
                uint64_t h = ((uint64_t)groups[g].minute * 1000003ULL + (uint64_t)(groups[g].ent + 1) * 31ULL +
                              (uint64_t)(groups[g].level + 1)) & (uint64_t)(ncap - 1);
                while (ngp[h].used) h = (h + 1) & (uint64_t)(ncap - 1);
                ngp[h] = groups[g];
            }
            free(groups);
            groups = ngp;
            gcap = ncap;
        }
        uint64_t h = ((uint64_t)m * 1000003ULL + (uint64_t)(ent[i] + 1) * 31ULL + (uint64_t)(lv + 1)) &
                     (uint64_t)(gcap - 1);
        while (groups[h].used && !(groups[h].ent == ent[i] && groups[h].level == lv && groups[h].minute == m))
            h = (h + 1) & (uint64_t)(gcap - 1);
        Group *g = &groups[h];
        if (!g->used) {
            g->used = 1;
            g->ent = ent[i];
            g->level = lv;
            g->minute = m;
            g->first = i;
            g->first_off = start[i];
            ng++;
        }
        g->lines++;
        g->last = i;
        if (start[i] + rawlen[i] + 1 > g->end_off) g->end_off = start[i] + rawlen[i] + 1;
    }

    for (Py_ssize_t i = 0; i < cut; i++)
        if (!code[i] && sel[evt[i]]) nsel++;
nogil_end:
    PyEval_RestoreThread(save);
    if (err) {
        if (err == 1) PyErr_SetString(PyExc_ValueError, "assemble: entity or stream out of range");
        else PyErr_NoMemory();
        goto done;
    }
    PyObject *idx = PyList_New(0), *rej = PyList_New(0);
    Arr s_idx = {NULL, NULL}, s_evt = {NULL, NULL}, s_contp = {NULL, NULL}, s_lv = {NULL, NULL}, r_idx = {NULL, NULL};
    int bad = !idx || !rej || arr_new(&s_idx, nsel, 8) || arr_new(&s_evt, nsel, 8) || arr_new(&s_contp, nsel, 1) ||
              arr_new(&s_lv, nsel, 1) || arr_new(&r_idx, nreq, 8);
    for (Py_ssize_t i = 0, r = 0; i < cut && !bad; i++)
        if (isreq[i]) ((int64_t *)r_idx.p)[r++] = i;
    for (Py_ssize_t g = 0; g < gcap && !bad; g++) {
        Group *gp = &groups[g];
        if (!gp->used) continue;
        PyObject *t = Py_BuildValue("(iiLLLLLL)", gp->ent, (int)gp->level, (long long)gp->minute,
                                    (long long)gp->lines, (long long)gp->first, (long long)gp->last,
                                    (long long)gp->first_off, (long long)gp->end_off);
        if (!t || PyList_Append(idx, t) < 0) bad = 1;
        Py_XDECREF(t);
    }
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < cut && !bad; i++) {
        if (code[i]) {
            PyObject *t = Py_BuildValue("(ni)", i, (int)code[i]);
            if (!t || PyList_Append(rej, t) < 0) bad = 1;
            Py_XDECREF(t);
        } else if (sel[evt[i]]) {
            ((int64_t *)s_idx.p)[k] = i;
            ((int64_t *)s_evt.p)[k] = evt[i];
            ((uint8_t *)s_contp.p)[k] = contp[i];
            ((int8_t *)s_lv.p)[k] = level[evt[i]];
            k++;
        }
    }
    if (bad) {
        Py_XDECREF(idx); Py_XDECREF(rej); Py_XDECREF(s_idx.obj); Py_XDECREF(s_evt.obj); Py_XDECREF(s_contp.obj);
        Py_XDECREF(s_lv.obj);
        Py_XDECREF(r_idx.obj);
        goto done;
    }
    out = Py_BuildValue("{s:n,s:n,s:n,s:L,s:L,s:N,s:N,s:N,s:N,s:N,s:N,s:N}", "cut", cut, "kept", kept, "starts", nstarts,
                        "tmin", (long long)tmin, "tmax", (long long)tmax, "index", idx, "rejects", rej,
                        "sel_idx", s_idx.obj, "sel_evt", s_evt.obj, "sel_contp", s_contp.obj, "sel_lv", s_lv.obj,
                        "req_idx", r_idx.obj);
done:
    free(evt);
    free(rowline);
    free(code);
    free(contp);
    free(sel);
    free(multi);
    free(isreq);
    free(lastpart);
    free(laststart);
    free(lastline);
    free(groups);
    for (size_t k = 0; k < sizeof(bufs) / sizeof(bufs[0]); k++) PyBuffer_Release(bufs[k]);
    if (have_req) PyBuffer_Release(&b_req);
    return out;
}

/* strings(data, idx, start, raw_len, pay_off, ts_off, ts_len)
 *   -> (payload offsets, payload bytes, ts offsets, ts bytes): Arrow large_string buffers of the
 *   payload (line body from pay_off, without a trailing \r) and the envelope timestamp text of
 *   lines idx. Offsets are relative to the line starts as scan() gave them. */
static PyObject *py_strings(PyObject *self, PyObject *args) {
    Py_buffer b_data, b_idx, b_start, b_len, b_pay, b_tso, b_tsl;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*", &b_data, &b_idx, &b_start, &b_len, &b_pay, &b_tso, &b_tsl))
        return NULL;
    Py_buffer *bufs[] = {&b_data, &b_idx, &b_start, &b_len, &b_pay, &b_tso, &b_tsl};
    PyObject *out = NULL;
    const unsigned char *d = b_data.buf;
    const int64_t *idx = b_idx.buf, *start = b_start.buf, *rawlen = b_len.buf;
    const int32_t *pay = b_pay.buf, *tso = b_tso.buf, *tsl = b_tsl.buf;
    Py_ssize_t m = b_idx.len / 8, n = b_start.len / 8;
    if (b_len.len != 8 * n || b_pay.len != 4 * n || b_tso.len != 4 * n || b_tsl.len != 4 * n) {
        PyErr_SetString(PyExc_ValueError, "strings: arrays of different lengths");
        goto done;
    }
    Py_ssize_t ptotal = 0, ttotal = 0;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < m; k++) {
        int64_t i = idx[k];
        if (i < 0 || i >= n || start[i] < 0 || start[i] + rawlen[i] > b_data.len || pay[i] < 0 || pay[i] > rawlen[i] ||
            tso[i] < 0 || tsl[i] < 0 || tso[i] + tsl[i] > rawlen[i]) {
            bad = 1;
            break;
        }
        int64_t body = rawlen[i];
        if (body > 0 && d[start[i] + body - 1] == '\r') body--;
        ptotal += body > pay[i] ? body - pay[i] : 0;
        ttotal += tsl[i];
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "strings: line out of range");
        goto done;
    }
    Arr po, pb, to, tb;
    po.obj = pb.obj = to.obj = tb.obj = NULL;
    if (arr_new_raw(&po, m + 1, 8) || arr_new_raw(&pb, ptotal, 1) || arr_new_raw(&to, m + 1, 8) || arr_new_raw(&tb, ttotal, 1)) {
        Py_XDECREF(po.obj); Py_XDECREF(pb.obj); Py_XDECREF(to.obj); Py_XDECREF(tb.obj);
        goto done;
    }
    int64_t *pof = (int64_t *)po.p, *tof = (int64_t *)to.p;
    Py_ssize_t pp = 0, tp = 0;
    pof[0] = tof[0] = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < m; k++) {
        int64_t i = idx[k];
        int64_t body = rawlen[i];
        if (body > 0 && d[start[i] + body - 1] == '\r') body--;
        Py_ssize_t pl = body > pay[i] ? (Py_ssize_t)(body - pay[i]) : 0;
        memcpy(pb.p + pp, d + start[i] + pay[i], (size_t)pl);
        pp += pl;
        pof[k + 1] = pp;
        memcpy(tb.p + tp, d + start[i] + tso[i], (size_t)tsl[i]);
        tp += tsl[i];
        tof[k + 1] = tp;
    }
    Py_END_ALLOW_THREADS
    out = Py_BuildValue("(NNNN)", po.obj, pb.obj, to.obj, tb.obj);
done:
    for (size_t k = 0; k < sizeof(bufs) / sizeof(bufs[0]); k++) PyBuffer_Release(bufs[k]);
    return out;
}

/* join_events(offsets, bytes, rows, evt, contp) -> (offsets, bytes, first, count): the kept
 * rows' payloads (Arrow large-string buffers) joined into one text per event, as the
 * reference's group_by does it: an event's rows in order, each after a "\n" unless it is
 * the first or a CRI partial continuation. `rows` are the rows' line numbers (ascending),
 * `evt` each row's event (the line number of its first row). `first`: the position of each
 * event's first row; `count`: its rows. Events in the order of their first rows. */
static PyObject *py_join_events(PyObject *self, PyObject *args) {
    Py_buffer b_off, b_txt, b_rows, b_evt, b_contp;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*", &b_off, &b_txt, &b_rows, &b_evt, &b_contp)) return NULL;
    Py_buffer *bufs[] = {&b_off, &b_txt, &b_rows, &b_evt, &b_contp};
    PyObject *out = NULL;
    const int64_t *off = b_off.buf, *rows = b_rows.buf, *evt = b_evt.buf;
    const uint8_t *contp = b_contp.buf;
    const char *txt = b_txt.buf;
    Py_ssize_t m = b_rows.len / 8;
    int64_t *firsts = NULL, *flines = NULL, *cursor = NULL;
    int32_t *ord = NULL;
    if (b_off.len != 8 * (m + 1) || b_evt.len != 8 * m || b_contp.len != m || (m && (off[0] != 0 || off[m] > b_txt.len))) {
        PyErr_SetString(PyExc_ValueError, "join_events: arrays of different lengths");
        goto done;
    }
    firsts = malloc((size_t)(m + 1) * 8);
    flines = malloc((size_t)(m + 1) * 8);
    ord = malloc((size_t)(m + 1) * 4);
    if (!firsts || !flines || !ord) { PyErr_NoMemory(); goto done; }
    Py_ssize_t E = 0;
    for (Py_ssize_t k = 0; k < m; k++) {
        if (off[k + 1] < off[k] || (k && rows[k] <= rows[k - 1])) {
            PyErr_SetString(PyExc_ValueError, "join_events: offsets or rows out of order");
            goto done;
        }
        if (rows[k] == evt[k]) { firsts[E] = k; flines[E] = rows[k]; ord[k] = (int32_t)E++; continue; }
        /* the event's first row came earlier: binary search its line among the firsts */
        Py_ssize_t lo = 0, hi = E;
        while (lo < hi) { Py_ssize_t mid = (lo + hi) / 2; if (flines[mid] < evt[k]) lo = mid + 1; else hi = mid; }
        if (lo == E || flines[lo] != evt[k]) {
            PyErr_SetString(PyExc_ValueError, "join_events: a row of an event whose first row is not kept");
            goto done;
        }
        ord[k] = (int32_t)lo;
    }
    Arr eo, eb, fi, co;
    eo.obj = eb.obj = fi.obj = co.obj = NULL;
    if (arr_new(&eo, E + 1, 8) || arr_new(&fi, E, 8) || arr_new(&co, E, 4)) goto fail_arr;
    int64_t *eoff = (int64_t *)eo.p, *fpos = (int64_t *)fi.p;
    int32_t *cnt = (int32_t *)co.p;
    /* lengths per event, then offsets, then the bytes in row order */
    for (Py_ssize_t k = 0; k < m; k++) {
        int32_t e = ord[k];
        int64_t len = off[k + 1] - off[k] + (rows[k] == evt[k] || contp[k] ? 0 : 1);
        eoff[e + 1] += len;
        cnt[e]++;
    }
    for (Py_ssize_t e = 0; e < E; e++) { eoff[e + 1] += eoff[e]; fpos[e] = firsts[e]; }
    if (arr_new(&eb, eoff[E], 1)) goto fail_arr;
    cursor = malloc((size_t)(E + 1) * 8);
    if (!cursor) { PyErr_NoMemory(); goto fail_arr; }
    memcpy(cursor, eoff, (size_t)E * 8);
    for (Py_ssize_t k = 0; k < m; k++) {
        int32_t e = ord[k];
        if (!(rows[k] == evt[k] || contp[k])) eb.p[cursor[e]++] = '\n';
        memcpy(eb.p + cursor[e], txt + off[k], (size_t)(off[k + 1] - off[k]));
        cursor[e] += off[k + 1] - off[k];
    }
    out = Py_BuildValue("(NNNN)", eo.obj, eb.obj, fi.obj, co.obj);
    goto done;
fail_arr:
    Py_XDECREF(eo.obj); Py_XDECREF(eb.obj); Py_XDECREF(fi.obj); Py_XDECREF(co.obj);
done:
    free(firsts); free(flines); free(ord); free(cursor);
    for (size_t k = 0; k < sizeof(bufs) / sizeof(bufs[0]); k++) PyBuffer_Release(bufs[k]);
    return out;
}

/* gather(src, idx, itemsize) -> bytearray: src[idx[k]] for fixed-size items (the kept
 * rows' values of a per-line array, so the per-line arrays can be dropped) */
static PyObject *py_gather(PyObject *self, PyObject *args) {
    Py_buffer src, idx;
    int itemsize;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*i", &src, &idx, &itemsize)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t m = idx.len / 8, n = itemsize > 0 ? src.len / itemsize : 0;
    const int64_t *ix = idx.buf;
    if (itemsize <= 0 || itemsize > 8) {
        PyErr_SetString(PyExc_ValueError, "gather: itemsize 1..8");
        goto done;
    }
    out = PyByteArray_FromStringAndSize(NULL, m * itemsize);
    if (!out) goto done;
    char *o = PyByteArray_AS_STRING(out);
    for (Py_ssize_t k = 0; k < m; k++) {
        if (ix[k] < 0 || ix[k] >= n) {
            Py_CLEAR(out);
            PyErr_SetString(PyExc_IndexError, "gather: index out of range");
            goto done;
        }
        memcpy(o + k * itemsize, (const char *)src.buf + ix[k] * itemsize, (size_t)itemsize);
    }
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&idx);
    return out;
}

/* scatter(dst, idx, src, itemsize): dst[idx[k]] = src[k] for fixed-size items (writes the
 * polars reference's answers for deferred lines into the scanner's arrays). */
static PyObject *py_scatter(PyObject *self, PyObject *args) {
    Py_buffer dst, idx, src;
    int itemsize;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*y*y*i", &dst, &idx, &src, &itemsize)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t m = idx.len / 8, n = itemsize > 0 ? dst.len / itemsize : 0;
    const int64_t *ix = idx.buf;
    if (itemsize <= 0 || itemsize > 8 || src.len != m * itemsize || idx.len % 8) {
        PyErr_SetString(PyExc_ValueError, "scatter: bad sizes");
        goto done;
    }
    for (Py_ssize_t k = 0; k < m; k++) {
        if (ix[k] < 0 || ix[k] >= n) {
            PyErr_SetString(PyExc_IndexError, "scatter: index out of range");
            goto done;
        }
        memcpy((char *)dst.buf + ix[k] * itemsize, (const char *)src.buf + k * itemsize, (size_t)itemsize);
    }
    out = Py_None;
    Py_INCREF(out);
done:
    PyBuffer_Release(&dst);
    PyBuffer_Release(&idx);
    PyBuffer_Release(&src);
    return out;
}

/* ------------------------------------------------------------------ literal search
 *
 * Where the first of a set of literals starts in a range (a line's payload: could the
 * line be an event?), ASCII-case-insensitively; find_literals loops over it for every
 * offset in a buffer (the tests' view). The Teddy algorithm (Hyperscan,
 * Rust's aho-corasick): the literals are put in 8 buckets (parsers/literals.py chooses
 * them). For each of the first `fp` bytes (up to 8) of a literal, two 16-entry tables
 * indexed by a byte's low and high nibble hold the buckets that accept it there (a
 * literal shorter than fp accepts any byte past its end). Per position, the AND of
 * those lookups over fp consecutive bytes is a bucket mask that is zero where no
 * literal can start: with AVX2, 32 positions per step (vpshufb is a 16-entry table
 * lookup). A non-zero mask is confirmed through a hash of the lowered first `kfp`
 * bytes (the literals starting with them), then compared 8 bytes at a time. Without
 * AVX2 the same tables are read byte by byte. Runs without the GIL.
 */

#define LIT_BUCKETS 8
#define LIT_FP_MAX 8

typedef struct LitSet {
    int nlit, fp, kfp;
    _Alignas(16) uint8_t lo[LIT_FP_MAX][16];         /* bucket bits by low nibble, per fingerprint byte */
    _Alignas(16) uint8_t hi[LIT_FP_MAX][16];         /* ... and by high nibble */
    uint8_t tab[LIT_FP_MAX][256];                   /* lo & hi per byte value (the scalar path) */
    int32_t *len;                                   /* per literal */
    uint64_t *pre, *pmask, *pfold;                  /* first 8 bytes: lowered, byte mask, fold bits */
    unsigned char **lit, **fold;                    /* whole literal lowered; 0x20 where a letter */
    /* confirm: the lowered first kfp bytes -> the literals starting with them (open addressing) */
    int hbits;
    uint32_t *hkey; /* key + 1, 0 = empty */
    int32_t *hfirst, *hcount;
    uint64_t kbits[1024]; /* 2^16-bit filter on the key's hash: most candidates stop here */
} LitSet;

static unsigned char lit_lower[256];

static inline unsigned char ascii_lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c | 0x20 : c; }

static inline uint32_t lit_key(const unsigned char *p, int kfp) {
    uint32_t k = lit_lower[p[0]];
    if (kfp > 1) k |= (uint32_t)lit_lower[p[1]] << 8;
    if (kfp > 2) k |= (uint32_t)lit_lower[p[2]] << 16;
    return k;
}

static inline uint32_t lit_hash(uint32_t k, int bits) { return (uint32_t)(k * 2654435761u) >> (32 - bits); }

static void litset_free(LitSet *s) {
    if (!s) return;
    for (int i = 0; s->lit && i < s->nlit; i++) { free(s->lit[i]); free(s->fold[i]); }
    free(s->lit); free(s->fold); free(s->len); free(s->pre); free(s->pmask); free(s->pfold);
    free(s->hkey); free(s->hfirst); free(s->hcount);
    free(s);
}

static void litset_capsule_free(PyObject *cap) {
    litset_free((LitSet *)PyCapsule_GetPointer(cap, "pmortem.litset"));
}

/* literal_set(literals: list[bytes], buckets: bytes (one 0..7 per literal), fp) -> capsule.
 * Literals sharing their first min(3, shortest) bytes must be adjacent. */
static PyObject *py_literal_set(PyObject *self, PyObject *args) {
    PyObject *lits;
    Py_buffer bk;
    int fp;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!y*i", &PyList_Type, &lits, &bk, &fp)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(lits);
    const uint8_t *bucket = bk.buf;
    LitSet *s = NULL;
    if (n < 1 || n > 4096 || bk.len != n || fp < 1 || fp > LIT_FP_MAX) {
        PyErr_SetString(PyExc_ValueError, "literal_set: 1..4096 literals, one bucket byte each, fp 1..8");
        goto fail;
    }
    s = calloc(1, sizeof(LitSet));
    if (!s) { PyErr_NoMemory(); goto fail; }
    s->nlit = (int)n;
    s->fp = fp;
    s->kfp = 3;
    s->lit = calloc((size_t)n, sizeof(unsigned char *));
    s->fold = calloc((size_t)n, sizeof(unsigned char *));
    s->len = calloc((size_t)n, sizeof(int32_t));
    s->pre = calloc((size_t)n, 8); s->pmask = calloc((size_t)n, 8); s->pfold = calloc((size_t)n, 8);
    if (!s->lit || !s->fold || !s->len || !s->pre || !s->pmask || !s->pfold) { PyErr_NoMemory(); goto fail; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = PyList_GET_ITEM(lits, i);
        if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) < 1 || PyBytes_GET_SIZE(b) > 4096 || bucket[i] >= LIT_BUCKETS) {
            PyErr_SetString(PyExc_ValueError, "literal_set: non-empty bytes literals (<= 4096 bytes), buckets 0..7");
            goto fail;
        }
        if (PyBytes_GET_SIZE(b) < s->kfp) s->kfp = (int)PyBytes_GET_SIZE(b);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = PyList_GET_ITEM(lits, i);
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(b);
        Py_ssize_t m = PyBytes_GET_SIZE(b);
        uint8_t bit = (uint8_t)(1u << bucket[i]);
        s->len[i] = (int32_t)m;
        s->lit[i] = malloc((size_t)m);
        s->fold[i] = malloc((size_t)m);
        if (!s->lit[i] || !s->fold[i]) { PyErr_NoMemory(); goto fail; }
        for (Py_ssize_t k = 0; k < m; k++) {
            unsigned char c = ascii_lower(p[k]);
            s->lit[i][k] = c;
            s->fold[i][k] = (c >= 'a' && c <= 'z') ? 0x20 : 0;
            if (k < 8) {
                s->pre[i] |= (uint64_t)c << (8 * k);
                s->pmask[i] |= (uint64_t)0xff << (8 * k);
                s->pfold[i] |= (uint64_t)s->fold[i][k] << (8 * k);
            }
        }
        for (int k = 0; k < fp; k++) {
            if (k >= m) { /* past the literal's end any byte will do */
                for (int v = 0; v < 16; v++) { s->lo[k][v] |= bit; s->hi[k][v] |= bit; }
                continue;
            }
            unsigned char c = s->lit[i][k];
            s->lo[k][c & 15] |= bit;
            s->hi[k][c >> 4] |= bit;
            if (s->fold[i][k]) s->hi[k][(c ^ 0x20) >> 4] |= bit;
        }
    }
    for (int k = 0; k < fp; k++)
        for (int v = 0; v < 256; v++) s->tab[k][v] = s->lo[k][v & 15] & s->hi[k][v >> 4];
    s->hbits = 4;
    while ((1 << s->hbits) < 4 * n) s->hbits++;
    {
        size_t hs = (size_t)1 << s->hbits;
        s->hkey = calloc(hs, sizeof(uint32_t));
        s->hfirst = calloc(hs, sizeof(int32_t));
        s->hcount = calloc(hs, sizeof(int32_t));
        if (!s->hkey || !s->hfirst || !s->hcount) { PyErr_NoMemory(); goto fail; }
        for (Py_ssize_t i = 0; i < n; i++) {
            uint32_t k = lit_key(s->lit[i], s->kfp), h = lit_hash(k, s->hbits), f = lit_hash(k, 16);
            s->kbits[f >> 6] |= (uint64_t)1 << (f & 63);
            while (s->hkey[h] && s->hkey[h] != k + 1) h = (h + 1) & (uint32_t)(hs - 1);
            if (!s->hkey[h]) { s->hkey[h] = k + 1; s->hfirst[h] = (int32_t)i; s->hcount[h] = 1; }
            else if (s->hfirst[h] + s->hcount[h] == i) s->hcount[h]++;
            else { PyErr_SetString(PyExc_ValueError, "literal_set: literals sharing a prefix must be adjacent"); goto fail; }
        }
    }
    PyBuffer_Release(&bk);
    {
        PyObject *cap = PyCapsule_New(s, "pmortem.litset", litset_capsule_free);
        if (!cap) litset_free(s);
        return cap;
    }
fail:
    litset_free(s);
    PyBuffer_Release(&bk);
    return NULL;
}

/* does literal i occur at d[pos..]? */
static inline int lit_at(const LitSet *s, int i, const unsigned char *d, Py_ssize_t pos, Py_ssize_t n) {
    Py_ssize_t m = s->len[i];
    const unsigned char *l = s->lit[i], *f = s->fold[i];
    if (pos + m > n) return 0;
    if (pos + 8 <= n) {
        uint64_t x;
        memcpy(&x, d + pos, 8);
        if (((x | s->pfold[i]) & s->pmask[i]) != s->pre[i]) return 0;
        for (Py_ssize_t k = 8; k < m; k++)
            if ((d[pos + k] | f[k]) != l[k]) return 0;
        return 1;
    }
    for (Py_ssize_t k = 0; k < m; k++)
        if ((d[pos + k] | f[k]) != l[k]) return 0;
    return 1;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LIT_HAVE_AVX2 1
#endif

/* the literals whose first bytes are those at d[pos] (the key filter, then the table):
 * their indices [*first, *first + count), 0 when none */
static inline int lit_bucket(const LitSet *s, const unsigned char *d, Py_ssize_t pos, Py_ssize_t n, int *first) {
    if (pos + s->kfp > n) return 0;
    uint32_t k = lit_key(d + pos, s->kfp), f = lit_hash(k, 16);
    if (!(s->kbits[f >> 6] >> (f & 63) & 1)) return 0;
    uint32_t hm = (1u << s->hbits) - 1, h = lit_hash(k, s->hbits);
    while (s->hkey[h] && s->hkey[h] != k + 1) h = (h + 1) & hm;
    if (!s->hkey[h]) return 0;
    *first = s->hfirst[h];
    return s->hcount[h];
}

/* does some literal start at d[pos]? */
static inline int lit_is_at(const LitSet *s, const unsigned char *d, Py_ssize_t pos, Py_ssize_t n) {
    int i = 0, c = lit_bucket(s, d, pos, n, &i);
    for (int e = i + c; i < e; i++)
        if (lit_at(s, i, d, pos, n)) return 1;
    return 0;
}

/* where does the first literal starting in [from, to) start, or -1? (a literal may run past
 * `to`: it is confirmed against the whole buffer d[0..n)) */
static Py_ssize_t lit_range_scalar(const LitSet *s, const unsigned char *d, Py_ssize_t from, Py_ssize_t to,
                                   Py_ssize_t n) {
    for (Py_ssize_t i = from; i < to; i++) {
        unsigned m = s->tab[0][d[i]];
        for (int k = 1; m && k < s->fp && i + k < n; k++) m &= s->tab[k][d[i + k]];
        if (m && lit_is_at(s, d, i, n)) return i;
    }
    return -1;
}

#ifdef LIT_HAVE_AVX2
/* lit_range_scalar with AVX2: 32 positions per step; positions past `to` are masked off */
__attribute__((target("avx2"))) static Py_ssize_t lit_range_avx2(const LitSet *s, const unsigned char *d,
                                                                  Py_ssize_t i, Py_ssize_t e, Py_ssize_t n) {
    const __m256i low4 = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    int fp = s->fp;
    for (; i < e; i += 32) {
        if (i + 32 + fp - 1 > n) return lit_range_scalar(s, d, i, e, n);
        __m256i r = _mm256_set1_epi8(-1);
        for (int k = 0; k < fp; k++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(d + i + k));
            __m256i lo = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)s->lo[k]));
            __m256i hi = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)s->hi[k]));
            r = _mm256_and_si256(r, _mm256_shuffle_epi8(lo, _mm256_and_si256(v, low4)));
            r = _mm256_and_si256(r, _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4)));
        }
        uint32_t cand = ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(r, zero));
        if (e - i < 32) cand &= (1u << (e - i)) - 1; /* positions past the line's end */
        while (cand) {
            int j = __builtin_ctz(cand);
            cand &= cand - 1;
            if (lit_is_at(s, d, i + j, n)) return i + j;
        }
    }
    return -1;
}
#endif

static int lit_simd = 1; /* literal_simd(False): the byte-by-byte loops only (tests) */

static lit_line_fn lit_line_kernel(void) {
#ifdef LIT_HAVE_AVX2
    if (lit_simd && __builtin_cpu_supports("avx2")) return lit_range_avx2;
#endif
    return lit_range_scalar;
}

static PyObject *py_literal_simd(PyObject *self, PyObject *arg) {
    (void)self;
    int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
    lit_simd = on;
    Py_RETURN_NONE;
}

/* find_literals(litset, data) -> bytes: every offset where a literal starts (int64,
 * ascending, each once), with the scanner's kernel; the tests compare it with Python's re */
static PyObject *py_find_literals(PyObject *self, PyObject *args) {
    PyObject *cap;
    Py_buffer buf;
    (void)self;
    if (!PyArg_ParseTuple(args, "Oy*", &cap, &buf)) return NULL;
    LitSet *s = PyCapsule_GetPointer(cap, "pmortem.litset");
    if (!s) { PyBuffer_Release(&buf); return NULL; }
    const unsigned char *d = buf.buf;
    Py_ssize_t n = buf.len, count = 0, cap_ = 1024;
    int64_t *v = malloc((size_t)cap_ * sizeof(int64_t));
    int oom = v == NULL;
    lit_line_fn kernel = lit_line_kernel();
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = kernel(s, d, 0, n, n); !oom && i >= 0; i = kernel(s, d, i + 1, n, n)) {
        if (count == cap_) {
            int64_t *w = realloc(v, (size_t)(cap_ *= 2) * sizeof(int64_t));
            if (!w) { oom = 1; break; }
            v = w;
        }
        v[count++] = i;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    if (oom) { free(v); return PyErr_NoMemory(); }
    PyObject *out = PyBytes_FromStringAndSize((const char *)v, count * (Py_ssize_t)sizeof(int64_t));
    free(v);
    return out;
}

/* ------------------------------------------------------------------ Arrow export */
/* arrow_export(fmt, n, data, offsets) -> (schema capsule, array capsule): one column of n
 * values through the Arrow C data interface (the PyCapsule protocol's __arrow_c_array__),
 * so polars takes the scanner's arrays without pyarrow. fmt: "C" uint8, "c" int8, "i"
 * int32, "l" int64 (data: n items), "U" large UTF-8 (offsets: n + 1 int64, data: bytes;
 * the caller made them, from valid UTF-8). No nulls. The buffers are copied into malloc'd
 * memory the array owns: its release only calls free(), so polars may drop it on any
 * thread without the GIL. */
struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

typedef struct {
    const void *bufs[3]; /* validity (none), then values, or offsets and bytes */
} ArrowPriv;

static void arrow_schema_release(struct ArrowSchema *sc) { sc->release = NULL; } /* static strings */

static void arrow_array_release(struct ArrowArray *ar) {
    ArrowPriv *p = ar->private_data;
    if (p) {
        free((void *)p->bufs[1]);
        free((void *)p->bufs[2]);
        free(p);
    }
    ar->private_data = NULL;
    ar->release = NULL;
}

static void arrow_schema_capsule_free(PyObject *cap) {
    struct ArrowSchema *sc = PyCapsule_GetPointer(cap, "arrow_schema");
    if (!sc) { PyErr_Clear(); return; }
    if (sc->release) sc->release(sc);
    free(sc);
}

static void arrow_array_capsule_free(PyObject *cap) {
    struct ArrowArray *ar = PyCapsule_GetPointer(cap, "arrow_array");
    if (!ar) { PyErr_Clear(); return; }
    if (ar->release) ar->release(ar);
    free(ar);
}

static void *copy_of(const void *src, size_t n) {
    void *p = malloc(n ? n : 1); /* never NULL for an empty buffer: Arrow wants a pointer */
    if (p && n) memcpy(p, src, n);
    return p;
}

static PyObject *py_arrow_export(PyObject *self, PyObject *args) {
    const char *fmt;
    Py_ssize_t n;
    Py_buffer data, offs = {0};
    PyObject *offs_obj;
    (void)self;
    if (!PyArg_ParseTuple(args, "sny*O", &fmt, &n, &data, &offs_obj)) return NULL;
    PyObject *out = NULL, *cs = NULL, *ca = NULL;
    struct ArrowSchema *sc = NULL;
    struct ArrowArray *ar = NULL;
    ArrowPriv *p = NULL;
    static const char *FORMATS[] = {"C", "c", "i", "l", "U"};
    static const int WIDTH[] = {1, 1, 4, 8, 0};
    int k = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(fmt, FORMATS[i]) == 0) k = i;
    if (k < 0 || n < 0) {
        PyErr_SetString(PyExc_ValueError, "arrow_export: format C, c, i, l or U and n >= 0");
        goto done;
    }
    if (offs_obj != Py_None && PyObject_GetBuffer(offs_obj, &offs, PyBUF_SIMPLE) < 0) goto done;
    if (k < 4) {
        if (data.len < n * WIDTH[k]) {
            PyErr_SetString(PyExc_ValueError, "arrow_export: data shorter than n values");
            goto done;
        }
    } else {
        const int64_t *o = offs.buf;
        if (!offs.buf || offs.len < (n + 1) * 8 || o[0] != 0 || o[n] > data.len) {
            PyErr_SetString(PyExc_ValueError, "arrow_export: offsets do not fit the data");
            goto done;
        }
        for (Py_ssize_t i = 0; i < n; i++)
            if (o[i + 1] < o[i]) {
                PyErr_SetString(PyExc_ValueError, "arrow_export: offsets go backwards");
                goto done;
            }
    }
    sc = calloc(1, sizeof(*sc));
    ar = calloc(1, sizeof(*ar));
    p = calloc(1, sizeof(*p));
    if (!sc || !ar || !p) { PyErr_NoMemory(); goto done; }
    if (k < 4) {
        p->bufs[1] = copy_of(data.buf, (size_t)(n * WIDTH[k]));
        if (!p->bufs[1]) { PyErr_NoMemory(); goto done; }
    } else {
        p->bufs[1] = copy_of(offs.buf, (size_t)(n + 1) * 8);
        p->bufs[2] = copy_of(data.buf, (size_t)((const int64_t *)offs.buf)[n]);
        if (!p->bufs[1] || !p->bufs[2]) { PyErr_NoMemory(); goto done; }
    }
    sc->format = FORMATS[k];
    sc->name = "";
    sc->flags = 0;
    sc->release = arrow_schema_release;
    ar->length = n;
    ar->n_buffers = k < 4 ? 2 : 3;
    ar->buffers = p->bufs;
    ar->private_data = p;
    ar->release = arrow_array_release;
    p = NULL; /* the array owns it now */
    cs = PyCapsule_New(sc, "arrow_schema", arrow_schema_capsule_free);
    if (!cs) goto done;
    sc = NULL;
    ca = PyCapsule_New(ar, "arrow_array", arrow_array_capsule_free);
    if (!ca) goto done;
    ar = NULL;
    out = PyTuple_Pack(2, cs, ca);
done:
    Py_XDECREF(cs);
    Py_XDECREF(ca);
    if (sc) free(sc);
    if (ar) { if (ar->release) ar->release(ar); free(ar); }
    if (p) { free((void *)p->bufs[1]); free((void *)p->bufs[2]); free(p); }
    PyBuffer_Release(&data);
    if (offs.obj) PyBuffer_Release(&offs);
    return out;
}

/* indices(arr, value) -> int64 positions k where the uint8 array arr[k] == value (the
 * lines the scanner deferred) */
static PyObject *py_indices(PyObject *self, PyObject *args) {
    Py_buffer a;
    int v;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*i", &a, &v)) return NULL;
    const unsigned char *b = a.buf;
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < a.len; i++) m += b[i] == (unsigned char)v;
    PyObject *out = PyByteArray_FromStringAndSize(NULL, m * 8);
    if (out) {
        int64_t *o = (int64_t *)PyByteArray_AS_STRING(out);
        for (Py_ssize_t i = 0, j = 0; i < a.len; i++)
            if (b[i] == (unsigned char)v) o[j++] = i;
    }
    PyBuffer_Release(&a);
    return out;
}

/* stream_values(stream capsule, itemsize) -> bytearray: the values of a null-free column of
 * fixed-width items, from `Series.__arrow_c_stream__()` (polars' answers for deferred
 * lines, to scatter into the scanner's arrays; no pyarrow) */
struct ArrowArrayStream {
    int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
    int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
    const char *(*get_last_error)(struct ArrowArrayStream *);
    void (*release)(struct ArrowArrayStream *);
    void *private_data;
};

static PyObject *py_stream_values(PyObject *self, PyObject *args) {
    PyObject *cap;
    int itemsize;
    (void)self;
    if (!PyArg_ParseTuple(args, "Oi", &cap, &itemsize)) return NULL;
    if (itemsize <= 0 || itemsize > 8) {
        PyErr_SetString(PyExc_ValueError, "stream_values: itemsize 1..8");
        return NULL;
    }
    struct ArrowArrayStream *st = PyCapsule_GetPointer(cap, "arrow_array_stream");
    if (!st) return NULL;
    if (!st->release) {
        PyErr_SetString(PyExc_ValueError, "stream_values: the stream was already consumed");
        return NULL;
    }
    PyObject *out = PyByteArray_FromStringAndSize(NULL, 0);
    if (!out) return NULL;
    for (;;) {
        struct ArrowArray ar;
        memset(&ar, 0, sizeof(ar));
        if (st->get_next(st, &ar) != 0) {
            const char *e = st->get_last_error ? st->get_last_error(st) : NULL;
            PyErr_Format(PyExc_RuntimeError, "stream_values: %s", e ? e : "get_next failed");
            Py_CLEAR(out);
            break;
        }
        if (!ar.release) break; /* end of stream */
        int bad = ar.n_buffers < 2 || ar.null_count != 0 || ar.length < 0 || ar.offset < 0 || !ar.buffers[1];
        if (bad && ar.length > 0) {
            ar.release(&ar);
            PyErr_SetString(PyExc_ValueError, "stream_values: not a null-free fixed-width column");
            Py_CLEAR(out);
            break;
        }
        Py_ssize_t have = PyByteArray_GET_SIZE(out), add = (Py_ssize_t)ar.length * itemsize;
        if (add > 0) {
            if (PyByteArray_Resize(out, have + add) < 0) { ar.release(&ar); Py_CLEAR(out); break; }
            memcpy(PyByteArray_AS_STRING(out) + have, (const char *)ar.buffers[1] + ar.offset * itemsize, (size_t)add);
        }
        ar.release(&ar);
    }
    st->release(st); /* consumed: the capsule's destructor sees release == NULL */
    return out;
}

/* literal_masks(litset, bits, stream) -> bytearray of int64: per string of a polars String
 * column (`Series.__arrow_c_stream__()`: utf8 view, utf8 or large utf8), the OR of bits[i]
 * over every literal i that occurs in it, overlapping occurrences included (what the
 * classifier's extract_many(overlapping=True) + per-rule bits computed in polars). A null
 * string has no literals. */
static inline uint64_t lit_bits_at(const LitSet *s, const int64_t *bits, const unsigned char *d, Py_ssize_t pos,
                                   Py_ssize_t n) {
    int i = 0, c = lit_bucket(s, d, pos, n, &i);
    uint64_t m = 0;
    for (int e = i + c; i < e; i++)
        if (lit_at(s, i, d, pos, n)) m |= (uint64_t)bits[i];
    return m;
}

static uint64_t lit_mask_of(const LitSet *s, lit_line_fn kernel, const int64_t *bits, const unsigned char *d,
                            Py_ssize_t n) {
    uint64_t mask = 0;
    for (Py_ssize_t from = 0; from < n;) {
        Py_ssize_t pos = kernel(s, d, from, n, n);
        if (pos < 0) break;
        mask |= lit_bits_at(s, bits, d, pos, n);
        from = pos + 1;
    }
    return mask;
}

static PyObject *py_literal_masks(PyObject *self, PyObject *args) {
    PyObject *litcap, *cap;
    Py_buffer bb;
    (void)self;
    if (!PyArg_ParseTuple(args, "Oy*O", &litcap, &bb, &cap)) return NULL;
    PyObject *out = NULL;
    const LitSet *ls = PyCapsule_GetPointer(litcap, "pmortem.litset");
    struct ArrowArrayStream *st = ls ? PyCapsule_GetPointer(cap, "arrow_array_stream") : NULL;
    if (!ls || !st) goto done_nostream;
    if (bb.len != (Py_ssize_t)ls->nlit * 8) {
        PyErr_SetString(PyExc_ValueError, "literal_masks: one int64 of bits per literal");
        goto done_nostream;
    }
    if (!st->release) {
        PyErr_SetString(PyExc_ValueError, "literal_masks: the stream was already consumed");
        goto done_nostream;
    }
    const int64_t *bits = bb.buf;
    lit_line_fn kernel = lit_line_kernel();
    struct ArrowSchema sc;
    memset(&sc, 0, sizeof(sc));
    if (st->get_schema(st, &sc) != 0 || !sc.format) {
        PyErr_SetString(PyExc_RuntimeError, "literal_masks: no schema");
        goto done;
    }
    int kind = strcmp(sc.format, "vu") == 0 ? 0 : strcmp(sc.format, "u") == 0 ? 1 : strcmp(sc.format, "U") == 0 ? 2 : -1;
    if (sc.release) sc.release(&sc);
    if (kind < 0) {
        PyErr_SetString(PyExc_ValueError, "literal_masks: not a string column");
        goto done;
    }
    out = PyByteArray_FromStringAndSize(NULL, 0);
    if (!out) goto done;
    for (;;) {
        struct ArrowArray ar;
        memset(&ar, 0, sizeof(ar));
        if (st->get_next(st, &ar) != 0) {
            PyErr_SetString(PyExc_RuntimeError, "literal_masks: get_next failed");
            Py_CLEAR(out);
            break;
        }
        if (!ar.release) break;
        Py_ssize_t have = PyByteArray_GET_SIZE(out), len = (Py_ssize_t)ar.length;
        if (len < 0 || ar.offset < 0 || ar.n_buffers < (kind == 0 ? 3 : 3) || PyByteArray_Resize(out, have + len * 8) < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "literal_masks: bad array");
            ar.release(&ar);
            Py_CLEAR(out);
            break;
        }
        int64_t *o = (int64_t *)(PyByteArray_AS_STRING(out) + have);
        const uint8_t *valid = ar.null_count ? ar.buffers[0] : NULL;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t r = 0; r < len; r++) {
            Py_ssize_t j = r + (Py_ssize_t)ar.offset;
            if (valid && !(valid[j >> 3] >> (j & 7) & 1)) { o[r] = 0; continue; }
            const unsigned char *p;
            Py_ssize_t n;
            if (kind == 0) {
                const unsigned char *v = (const unsigned char *)ar.buffers[1] + 16 * j;
                int32_t vl, bi, bo;
                memcpy(&vl, v, 4);
                if (vl <= 12) { p = v + 4; }
                else {
                    memcpy(&bi, v + 8, 4);
                    memcpy(&bo, v + 12, 4);
                    p = (const unsigned char *)ar.buffers[2 + bi] + bo;
                }
                n = vl;
            } else if (kind == 1) {
                const int32_t *of = ar.buffers[1];
                p = (const unsigned char *)ar.buffers[2] + of[j];
                n = of[j + 1] - of[j];
            } else {
                const int64_t *of = ar.buffers[1];
                p = (const unsigned char *)ar.buffers[2] + of[j];
                n = (Py_ssize_t)(of[j + 1] - of[j]);
            }
            o[r] = (int64_t)lit_mask_of(ls, kernel, bits, p, n);
        }
        Py_END_ALLOW_THREADS
        ar.release(&ar);
    }
done:
    st->release(st);
done_nostream:
    PyBuffer_Release(&bb);
    return out;
}


/* ------------------------------------------------------------------ request lines (issue 18.2)
 *
 * Request lines (nginx / ingress access lines, pino-http `request completed`, Java request
 * logs) are most of the bytes of production logs. scan() says, per line (scan_req_line), whether
 * the line is one the polars reference would build into an `http_request` event that
 * parsers/requests.py then only counts in its rollup (not notable: no 5xx, 401/403/408/499/504,
 * no slow latency, no session): those lines skip the event builder; requests_fields()
 * extracts the rollup's key fields of exactly those lines. Anything this code cannot decide
 * exactly as the reference would (other rules' literals present, JSON escapes in a field it
 * reads, duplicate keys, exponents, a latency next to the slow threshold, non-ASCII text
 * where the regexes test Unicode classes) is left to the reference: a line is only ever
 * taken when the answer is certain. tests/parsers/test_native_requests.py holds both equal.
 *
 * The per-literal bits of the blocking set (built in parsers/native.py from the catalogue):
 *   1: a rule before http.nginx_access lists it; 2: a rule before http.access_line lists it;
 *   4: any rule lists it (a pino message holding it could be claimed by a rule);
 *   8: http.nginx_access's own literal (HTTP/). */
enum { RQ_NONE = 0, RQ_NGINX = 1, RQ_PINO = 2, RQ_JAVA = 3 };
enum { RQF_NGINX = 1, RQF_PINO = 2, RQF_JAVA = 4 };
#define RQ_NOTABLE(st) ((st) >= 500 || (st) == 401 || (st) == 403 || (st) == 408 || (st) == 499 || (st) == 504)

typedef struct {
    const LitSet *block;
    lit_line_fn kernel;
    const int64_t *bits;
    int flags;
    double slow_ms;
} ReqCfg;

typedef struct {
    Py_ssize_t off, len; /* len < 0: null */
} Span;

typedef struct {
    int kind;
    int32_t status;
    int64_t pid;
    int has_pid;
    Span method, route, dur, upstream, service, pod;
} Req;

static const Span NOSPAN = {0, -1};

static int ascii_only(const unsigned char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i] >= 0x80) return 0;
    return 1;
}

/* could SYSLOG_HEAD_RE or NGINX_ERROR_PID_RE (events.py: a pid, host or program from the
 * line's head) match this text line? */
static int head_possible(const unsigned char *p, Py_ssize_t n) {
    if (n > 0 && p[0] == '<') return 1;
    if (n > 1 && p[0] == '1' && p[1] == ' ') return 1;
    if (n > 3 && p[0] >= 'A' && p[0] <= 'Z' && p[1] >= 'a' && p[1] <= 'z' && p[2] >= 'a' && p[2] <= 'z' && p[3] == ' ')
        return 1;
    if (n > 4 && is_digit(p[0]) && is_digit(p[1]) && is_digit(p[2]) && is_digit(p[3]) && (p[4] == '-' || p[4] == '/'))
        return 1;
    return 0;
}

static int has_ci(const unsigned char *p, Py_ssize_t n, const char *w) {
    Py_ssize_t m = (Py_ssize_t)strlen(w);
    for (Py_ssize_t i = 0; i + m <= n; i++) {
        Py_ssize_t k = 0;
        while (k < m && ascii_lower(p[i + k]) == (unsigned char)w[k]) k++;
        if (k == m) return 1;
    }
    return 0;
}

static inline int rq_ws(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13); }

/* a digits-only run [a, b) (at most 18 digits, optional leading '-') as an integer */
static int parse_int(const unsigned char *p, Py_ssize_t a, Py_ssize_t b, int64_t *v) {
    int neg = 0;
    if (a < b && p[a] == '-') { neg = 1; a++; }
    if (b - a < 1 || b - a > 18) return 0;
    int64_t x = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        if (!is_digit(p[i])) return 0;
        x = x * 10 + (p[i] - '0');
    }
    *v = neg ? -x : x;
    return 1;
}

static double span_double(const unsigned char *p, Span s) {
    char tmp[64];
    if (s.len <= 0 || s.len >= (Py_ssize_t)sizeof(tmp)) return s.len <= 0 ? 0.0 : 1e300;
    memcpy(tmp, p + s.off, (size_t)s.len);
    tmp[s.len] = 0;
    return strtod(tmp, NULL);
}

/* ---- a strict JSON reader (what orjson accepts, minus what it would be unsure of) */
typedef struct {
    const unsigned char *p;
    Py_ssize_t n, i;
} JP;

typedef struct {
    const char *name;
    int seen, type, esc; /* type: 's' string, 'i' integer, 'f' other number, 't' bool, 'z' null, 'o' object, 'a' array */
    Span v;              /* string: its content; number: its text; object: '{' .. '}' */
} JF;

static inline void jws(JP *j) {
    while (j->i < j->n && (j->p[j->i] == ' ' || j->p[j->i] == '\t' || j->p[j->i] == '\n' || j->p[j->i] == '\r')) j->i++;
}

static inline int hexv(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int jstr(JP *j, Span *s, int *esc) {
    if (j->i >= j->n || j->p[j->i] != '"') return -1;
    Py_ssize_t a = ++j->i;
    *esc = 0;
    while (j->i < j->n) {
        unsigned char c = j->p[j->i];
        if (c == '"') {
            s->off = a;
            s->len = j->i - a;
            j->i++;
            return 0;
        }
        if (c < 0x20) return -1;
        if (c == '\\') {
            *esc = 1;
            if (++j->i >= j->n) return -1;
            c = j->p[j->i];
            if (c == 'u') {
                if (j->i + 4 >= j->n) return -1;
                int cp = 0;
                for (int k = 1; k <= 4; k++) {
                    int h = hexv(j->p[j->i + k]);
                    if (h < 0) return -1;
                    cp = cp * 16 + h;
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) return -1; /* surrogates: not decided here */
                j->i += 5;
                continue;
            }
            if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
                j->i++;
                continue;
            }
            return -1;
        }
        j->i++;
    }
    return -1;
}

/* -?(0|[1-9]\d*)(\.\d+)? ; exponents, over 18 integer digits or 15 significant digits: -1 */
static int jnum(JP *j, Span *s, int *type) {
    Py_ssize_t a = j->i, i = j->i;
    const unsigned char *p = j->p;
    if (i < j->n && p[i] == '-') i++;
    if (i >= j->n || !is_digit(p[i])) return -1;
    Py_ssize_t d0 = i;
    if (p[i] == '0') i++;
    else while (i < j->n && is_digit(p[i])) i++;
    Py_ssize_t intd = i - d0;
    *type = 'i';
    if (i < j->n && p[i] == '.') {
        i++;
        Py_ssize_t f0 = i;
        while (i < j->n && is_digit(p[i])) i++;
        if (i == f0) return -1;
        if (intd + (i - f0) > 15) return -1;
        *type = 'f';
    }
    if (i < j->n && (p[i] == 'e' || p[i] == 'E')) return -1;
    if (intd > 18) return -1;
    s->off = a;
    s->len = i - a;
    j->i = i;
    return 0;
}

static int jobject(JP *j, int depth, JF *f, int nf);

static int jvalue(JP *j, int depth, int *type, Span *v, int *esc) {
    if (depth > 32 || j->i >= j->n) return -1;
    unsigned char c = j->p[j->i];
    *esc = 0;
    if (c == '"') { *type = 's'; return jstr(j, v, esc); }
    if (c == '{') {
        Py_ssize_t a = j->i;
        if (jobject(j, depth + 1, NULL, 0) < 0) return -1;
        *type = 'o';
        v->off = a;
        v->len = j->i - a;
        return 0;
    }
    if (c == '[') {
        Py_ssize_t a = j->i;
        j->i++;
        jws(j);
        if (j->i < j->n && j->p[j->i] == ']') { j->i++; }
        else {
            for (;;) {
                int t, e;
                Span s;
                if (jvalue(j, depth + 1, &t, &s, &e) < 0) return -1;
                jws(j);
                if (j->i >= j->n) return -1;
                if (j->p[j->i] == ',') { j->i++; jws(j); continue; }
                if (j->p[j->i] == ']') { j->i++; break; }
                return -1;
            }
        }
        *type = 'a';
        v->off = a;
        v->len = j->i - a;
        return 0;
    }
    if (c == 't' && j->i + 4 <= j->n && memcmp(j->p + j->i, "true", 4) == 0) { j->i += 4; *type = 't'; return 0; }
    if (c == 'f' && j->i + 5 <= j->n && memcmp(j->p + j->i, "false", 5) == 0) { j->i += 5; *type = 't'; return 0; }
    if (c == 'n' && j->i + 4 <= j->n && memcmp(j->p + j->i, "null", 4) == 0) { j->i += 4; *type = 'z'; return 0; }
    if (c == '-' || is_digit(c)) return jnum(j, v, type);
    return -1;
}

/* an object at j->i; the members named in f (nf of them) are recorded, a second one of the
 * same name or a key with an escape among recorded ones is -1 (orjson: the last one wins) */
static int jobject(JP *j, int depth, JF *f, int nf) {
    if (depth > 32 || j->i >= j->n || j->p[j->i] != '{') return -1;
    j->i++;
    jws(j);
    if (j->i < j->n && j->p[j->i] == '}') { j->i++; return 0; }
    for (;;) {
        Span k;
        int kesc;
        if (jstr(j, &k, &kesc) < 0) return -1;
        if (kesc && nf) return -1;
        jws(j);
        if (j->i >= j->n || j->p[j->i] != ':') return -1;
        j->i++;
        jws(j);
        int t, e;
        Span v;
        if (jvalue(j, depth, &t, &v, &e) < 0) return -1;
        for (int x = 0; x < nf; x++) {
            /* (the first byte before the length: most keys differ there, and strlen is per call) */
            if (k.len > 0 && (unsigned char)f[x].name[0] == j->p[k.off] && (Py_ssize_t)strlen(f[x].name) == k.len &&
                memcmp(f[x].name, j->p + k.off, (size_t)k.len) == 0) {
                if (f[x].seen) return -1;
                f[x].seen = 1;
                f[x].type = t;
                f[x].v = v;
                f[x].esc = e;
                break;
            }
        }
        jws(j);
        if (j->i >= j->n) return -1;
        if (j->p[j->i] == ',') { j->i++; jws(j); continue; }
        if (j->p[j->i] == '}') { j->i++; return 0; }
        return -1;
    }
}

enum { JF_MSG, JF_ERR, JF_ERROR, JF_HOST, JF_PID, JF_NAME, JF_SERVICE, JF_SVCNAME, JF_REQ, JF_RES, JF_RT, JF_DUR,
       JF_ELAPSED, JF_METHOD, JF_UP, JF_UPADDR, JF_SESSION, JF_N };
static const char *JF_NAMES[JF_N] = {"msg", "err", "error", "hostname", "pid", "name", "service", "service.name",
                                     "req", "res", "responseTime", "duration_ms", "elapsed_ms", "method", "upstream",
                                     "upstream_addr", "session_id"};

/* pino-http (events.json_fields): msg a plain string no rule's literal is in, res.statusCode
 * an integer that is not notable, the latency (responseTime / duration_ms / elapsed_ms, the
 * first present) a number under the slow threshold or absent / not a number */
static int req_pino(const unsigned char *p, Py_ssize_t n, const ReqCfg *c, Req *r) {
    JF f[JF_N];
    memset(f, 0, sizeof(f));
    for (int x = 0; x < JF_N; x++) f[x].name = JF_NAMES[x];
    JP j = {p, n, 0};
    if (jobject(&j, 0, f, JF_N) < 0) return 0;
    jws(&j);
    if (j.i != n) return 0;
    JF *msg = &f[JF_MSG];
    if (!msg->seen || msg->type != 's' || msg->esc) return 0;
    if (f[JF_ERR].seen || f[JF_ERROR].seen || f[JF_METHOD].seen || f[JF_UP].seen || f[JF_UPADDR].seen || f[JF_SESSION].seen)
        return 0;
    if (lit_mask_of(c->block, c->kernel, c->bits, p + msg->v.off, msg->v.len) & 4) return 0;
    JF *res = &f[JF_RES];
    if (!res->seen || res->type != 'o') return 0;
    JF sc = {"statusCode", 0, 0, 0, {0, 0}};
    JP jr = {p, res->v.off + res->v.len, res->v.off};
    if (jobject(&jr, 1, &sc, 1) < 0 || !sc.seen || sc.type != 'i') return 0;
    int64_t st;
    if (!parse_int(p, sc.v.off, sc.v.off + sc.v.len, &st) || st > 999999999 || st < -999999999) return 0;
    if (RQ_NOTABLE(st)) return 0;
    r->status = (int32_t)st;
    JF *rt = f[JF_RT].seen ? &f[JF_RT] : f[JF_DUR].seen ? &f[JF_DUR] : f[JF_ELAPSED].seen ? &f[JF_ELAPSED] : NULL;
    r->dur = NOSPAN;
    if (rt) {
        if (rt->type == 't') return 0; /* a bool is an int to Python */
        if (rt->type == 'i' || rt->type == 'f') {
            if (p[rt->v.off] == '-') return 0;
            if (span_double(p, rt->v) >= c->slow_ms) return 0;
            r->dur = rt->v;
        }
    }
    r->pod = NOSPAN;
    if (f[JF_HOST].seen && f[JF_HOST].type == 's') {
        if (f[JF_HOST].esc) return 0;
        r->pod = f[JF_HOST].v;
    }
    r->has_pid = 0;
    if (f[JF_PID].seen) {
        if (f[JF_PID].type == 't') return 0;
        if (f[JF_PID].type == 'i') {
            if (!parse_int(p, f[JF_PID].v.off, f[JF_PID].v.off + f[JF_PID].v.len, &r->pid)) return 0;
            r->has_pid = 1;
        }
    }
    r->service = NOSPAN;
    for (int x = JF_NAME; x <= JF_SVCNAME; x++) {
        if (f[x].seen && f[x].type == 's') {
            if (f[x].esc) return 0;
            r->service = f[x].v;
            break;
        }
    }
    r->route = r->method = NOSPAN;
    JF *req = &f[JF_REQ];
    if (req->seen && req->type == 'o') {
        JF rf[2] = {{"url", 0, 0, 0, {0, 0}}, {"method", 0, 0, 0, {0, 0}}};
        JP jq = {p, req->v.off + req->v.len, req->v.off};
        if (jobject(&jq, 1, rf, 2) < 0) return 0;
        if (rf[0].seen && rf[0].type == 's') {
            if (rf[0].esc) return 0;
            const unsigned char *qm = memchr(p + rf[0].v.off, '?', (size_t)rf[0].v.len);
            r->route.off = rf[0].v.off;
            r->route.len = qm ? qm - (p + rf[0].v.off) : rf[0].v.len;
        }
        if (rf[1].seen && rf[1].type == 's') {
            if (rf[1].esc) return 0;
            int up = rf[1].v.len > 0;
            for (Py_ssize_t k = 0; k < rf[1].v.len && up; k++) up = p[rf[1].v.off + k] >= 'A' && p[rf[1].v.off + k] <= 'Z';
            if (up) r->method = rf[1].v; /* the rollup reads "method":"([A-Z]+)" from the attrs */
        }
    }
    r->upstream = NOSPAN;
    r->kind = RQ_PINO;
    return 1;
}

/* http.nginx_access: ^(\S+) \S+ \S+ \[[^\]]+\] "([A-Z]+) ([^ "?]+)[^"]*" (\d{3}) (?:\d+|-)
 *   (?: "[^"]*" "[^"]*")?(?: (\d+\.\d+))?(?: (\d+\.\d+|-))?
 * and its `also`: \[[^\]\s]*\] \[[^\]\s]*\] ([0-9A-Za-z.\-]+:\d+) (upstream_addr) */
static int req_nginx(const unsigned char *p, Py_ssize_t n, const ReqCfg *c, Req *r) {
    Py_ssize_t i = 0;
    for (int t = 0; t < 3; t++) {
        Py_ssize_t a = i;
        while (i < n && !rq_ws(p[i])) i++;
        if (i == a || i >= n || p[i] != ' ') return 0;
        i++;
    }
    if (i >= n || p[i] != '[') return 0;
    Py_ssize_t a = ++i;
    while (i < n && p[i] != ']') i++;
    if (i == a || i + 2 >= n || p[i + 1] != ' ' || p[i + 2] != '"') return 0;
    i += 3;
    a = i;
    while (i < n && p[i] >= 'A' && p[i] <= 'Z') i++;
    if (i == a || i >= n || p[i] != ' ') return 0;
    r->method.off = a;
    r->method.len = i - a;
    a = ++i;
    while (i < n && p[i] != ' ' && p[i] != '"' && p[i] != '?') i++;
    if (i == a) return 0;
    r->route.off = a;
    r->route.len = i - a;
    while (i < n && p[i] != '"') i++;
    if (i + 5 >= n || p[i + 1] != ' ' || !is_digit(p[i + 2]) || !is_digit(p[i + 3]) || !is_digit(p[i + 4]) || p[i + 5] != ' ')
        return 0;
    int st = (p[i + 2] - '0') * 100 + (p[i + 3] - '0') * 10 + (p[i + 4] - '0');
    if (RQ_NOTABLE(st)) return 0;
    r->status = st;
    i += 6;
    if (i < n && is_digit(p[i])) { while (i < n && is_digit(p[i])) i++; }
    else if (i < n && p[i] == '-') i++;
    else return 0;
    /* (?: "[^"]*" "[^"]*")? */
    if (i + 1 < n && p[i] == ' ' && p[i + 1] == '"') {
        const unsigned char *q1 = memchr(p + i + 2, '"', (size_t)(n - i - 2));
        if (q1) {
            Py_ssize_t k = q1 - p;
            if (k + 2 < n && p[k + 1] == ' ' && p[k + 2] == '"') {
                const unsigned char *q2 = memchr(p + k + 3, '"', (size_t)(n - k - 3));
                if (q2) i = q2 - p + 1;
            }
        }
    }
    /* (?: (\d+\.\d+))? */
    r->dur = NOSPAN;
    if (i + 1 < n && p[i] == ' ' && is_digit(p[i + 1])) {
        Py_ssize_t k = i + 1;
        while (k < n && is_digit(p[k])) k++;
        if (k + 1 < n && p[k] == '.' && is_digit(p[k + 1])) {
            k++;
            while (k < n && is_digit(p[k])) k++;
            r->dur.off = i + 1;
            r->dur.len = k - i - 1;
        }
    }
    if (r->dur.len >= 0) {
        /* duration_ms = round(duration_s * 1000, 6) in polars: a latency this close to the
         * threshold is left to it */
        double ms = span_double(p, r->dur) * 1000.0;
        if (ms >= c->slow_ms - 1e-3) return 0;
    }
    /* upstream_addr: the leftmost [..] [..] addr:port */
    r->upstream = NOSPAN;
    for (Py_ssize_t b = 0; b < n; b++) {
        const unsigned char *lb = memchr(p + b, '[', (size_t)(n - b));
        if (!lb) break;
        b = lb - p;
        Py_ssize_t k = b + 1;
        while (k < n && p[k] != ']' && !rq_ws(p[k])) k++;
        if (k + 2 >= n || p[k] != ']' || p[k + 1] != ' ' || p[k + 2] != '[') continue;
        k += 3;
        while (k < n && p[k] != ']' && !rq_ws(p[k])) k++;
        if (k + 1 >= n || p[k] != ']' || p[k + 1] != ' ') continue;
        k += 2;
        Py_ssize_t u = k;
        while (k < n && (is_alpha(p[k]) || is_digit(p[k]) || p[k] == '.' || p[k] == '-')) k++;
        if (k == u || k + 1 >= n || p[k] != ':' || !is_digit(p[k + 1])) continue;
        k++;
        while (k < n && is_digit(p[k])) k++;
        r->upstream.off = u;
        r->upstream.len = k - u;
        break;
    }
    r->kind = RQ_NGINX;
    return 1;
}

static const char *JAVA_METHODS[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};

/* http.access_line: \b(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) (/[^\s?]*)\S*\s+(?:-> |status[=:]?\s*)?
 *   ([1-5]\d\d)\b(?:[^\d\n]{0,12}(\d+(?:\.\d+)?)\s*ms)?  (leftmost match) */
static int req_java(const unsigned char *p, Py_ssize_t n, const ReqCfg *c, Req *r) {
    /* the rule's `also` patterns that matter here: a worker pid and a session id */
    if (has_ci(p, n, "worker") || has_ci(p, n, "sid") || has_ci(p, n, "session")) return 0;
    for (Py_ssize_t a = 0; a < n; a++) {
        if (p[a] < 'A' || p[a] > 'Z' || (a > 0 && is_word(p[a - 1]))) continue;
        int mi = -1;
        Py_ssize_t ml = 0;
        for (int x = 0; x < 7; x++) {
            ml = (Py_ssize_t)strlen(JAVA_METHODS[x]);
            if (a + ml < n && memcmp(p + a, JAVA_METHODS[x], (size_t)ml) == 0 && p[a + ml] == ' ') { mi = x; break; }
        }
        if (mi < 0) continue;
        Py_ssize_t i = a + ml + 1;
        if (i >= n || p[i] != '/') continue;
        Py_ssize_t ro = i;
        i++;
        while (i < n && !rq_ws(p[i]) && p[i] != '?') i++;
        Py_ssize_t re = i;
        while (i < n && !rq_ws(p[i])) i++;
        if (i >= n) continue;
        while (i < n && rq_ws(p[i])) i++;
        if (i + 2 < n && p[i] == '-' && p[i + 1] == '>' && p[i + 2] == ' ') i += 3;
        else if (i + 6 <= n && memcmp(p + i, "status", 6) == 0) {
            i += 6;
            if (i < n && (p[i] == '=' || p[i] == ':')) i++;
            while (i < n && rq_ws(p[i])) i++;
        }
        if (i + 3 > n || p[i] < '1' || p[i] > '5' || !is_digit(p[i + 1]) || !is_digit(p[i + 2]) ||
            (i + 3 < n && is_word(p[i + 3])))
            continue;
        if (mi == 6) return 0; /* OPTIONS is not among the rule's literals */
        int st = (p[i] - '0') * 100 + (p[i + 1] - '0') * 10 + (p[i + 2] - '0');
        if (RQ_NOTABLE(st)) return 0;
        r->status = st;
        r->method.off = a;
        r->method.len = ml;
        r->route.off = ro;
        r->route.len = re - ro;
        r->dur = NOSPAN;
        Py_ssize_t k = i + 3, t = k;
        while (t < n && t - k < 12 && !is_digit(p[t])) t++;
        if (t < n && is_digit(p[t])) {
            Py_ssize_t d0 = t;
            while (t < n && is_digit(p[t])) t++;
            if (t + 1 < n && p[t] == '.' && is_digit(p[t + 1])) {
                t++;
                while (t < n && is_digit(p[t])) t++;
            }
            Py_ssize_t d1 = t;
            while (t < n && rq_ws(p[t])) t++;
            if (t + 1 < n + 0 && t + 2 <= n && p[t] == 'm' && p[t + 1] == 's') {
                r->dur.off = d0;
                r->dur.len = d1 - d0;
                if (span_double(p, r->dur) >= c->slow_ms) return 0;
            }
        }
        r->upstream = NOSPAN;
        r->kind = RQ_JAVA;
        return 1;
    }
    return 0;
}

static int req_parse(const unsigned char *p, Py_ssize_t n, int is_json, const ReqCfg *c, Req *r) {
    memset(r, 0, sizeof(*r));
    r->method = r->route = r->dur = r->upstream = r->service = r->pod = NOSPAN;
    if (is_json) return (c->flags & RQF_PINO) && n > 0 && p[0] == '{' ? req_pino(p, n, c, r) : 0;
    if (!(c->flags & (RQF_NGINX | RQF_JAVA)) || !ascii_only(p, n) || head_possible(p, n)) return 0;
    uint64_t mask = lit_mask_of(c->block, c->kernel, c->bits, p, n);
    if ((c->flags & RQF_NGINX) && (mask & 8) && !(mask & 1) && req_nginx(p, n, c, r)) return 1;
    memset(r, 0, sizeof(*r));
    r->method = r->route = r->dur = r->upstream = r->service = r->pod = NOSPAN;
    if ((c->flags & RQF_JAVA) && !(mask & 2)) return req_java(p, n, c, r);
    return 0;
}

/* requests.route_template for an ASCII path (the part before '?' is already cut): each segment
 * after a '/' that is all digits, a UUID, or 6+ hex digits with a digit among them becomes
 * ":id" (two replace_all passes of _ID_SEGMENT reach every such segment). Writes to out when
 * given; returns the length. */
static int hexd(unsigned char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

static int id_segment(const unsigned char *g, Py_ssize_t n) {
    if (n == 0) return 0;
    int digits = 1, hex = 1, anyd = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!is_digit(g[i])) digits = 0;
        else anyd = 1;
        if (!hexd(g[i])) hex = 0;
    }
    if (digits || (hex && n >= 6 && anyd)) return 1;
    if (n == 36 && g[8] == '-' && g[13] == '-' && g[18] == '-' && g[23] == '-') {
        for (Py_ssize_t i = 0; i < n; i++)
            if (i != 8 && i != 13 && i != 18 && i != 23 && !hexd(g[i])) return 0;
        return 1;
    }
    return 0;
}

static Py_ssize_t route_templ(const unsigned char *r, Py_ssize_t n, unsigned char *out) {
    Py_ssize_t o = 0, i = 0;
    const unsigned char *sl = memchr(r, '/', (size_t)n);
    Py_ssize_t head = sl ? sl - r : n; /* before the first '/': no segment of its own */
    if (out) memcpy(out, r, (size_t)head);
    o = head;
    i = head;
    while (i < n) { /* r[i] == '/' */
        Py_ssize_t a = i + 1, b = a;
        while (b < n && r[b] != '/') b++;
        if (out) out[o] = '/';
        o++;
        if (id_segment(r + a, b - a)) {
            if (out) memcpy(out + o, ":id", 3);
            o += 3;
        } else {
            if (out) memcpy(out + o, r + a, (size_t)(b - a));
            o += b - a;
        }
        i = b;
    }
    return o;
}

static int req_cfg(ReqCfg *c, PyObject *litcap, Py_buffer *bits, int flags, double slow_ms) {
    c->block = PyCapsule_GetPointer(litcap, "pmortem.litset");
    if (!c->block) return -1;
    if (bits->len != (Py_ssize_t)c->block->nlit * 8) {
        PyErr_SetString(PyExc_ValueError, "requests: one int64 of bits per literal");
        return -1;
    }
    c->kernel = lit_line_kernel();
    c->bits = bits->buf;
    c->flags = flags;
    c->slow_ms = slow_ms;
    return 0;
}

/* A request line's fields as scan_req_line found them, while the line was in cache: its texts
 * copied into the scan part's text buffer (the route templated there), `off` into that buffer
 * (the chunk's texts are within the chunk's size: 32 bits hold them). requests_fields gathers
 * them without reading the lines again. */
typedef struct {
    int32_t status;
    uint8_t kind, has_pid, route_raw, pad_;
    int64_t pid;
    int32_t off[6], len[6]; /* method, route, dur, upstream, service, pod; len < 0: null */
} PReq;

/* part 2's records after part 1's texts */
static void preq_shift(unsigned char *recs, Py_ssize_t n, int32_t by) {
    PReq *r = (PReq *)recs;
    for (Py_ssize_t k = 0; k < n; k++)
        for (int f = 0; f < 6; f++)
            if (r[k].len[f] >= 0) r[k].off[f] += by;
}

_Static_assert(sizeof(PReq) == SIZEOF_PREQ, "PReq's size");

/* the scanner's request config: a ReqCfg with its own copy of the per-literal bits (the
 * caller's buffer is released before the scan) */
typedef struct {
    ReqCfg c;
    int64_t bits[];
} ScanReqCfg;

static void *scan_req_cfg(PyObject *litcap, Py_buffer *bits, int flags, double slow_ms) {
    ScanReqCfg *s = malloc(sizeof(ScanReqCfg) + (size_t)(bits->len > 0 ? bits->len : 0));
    if (!s) { PyErr_NoMemory(); return NULL; }
    if (req_cfg(&s->c, litcap, bits, flags, slow_ms) < 0) { free(s); return NULL; }
    if (bits->len > 0) memcpy(s->bits, bits->buf, (size_t)bits->len);
    s->c.bits = s->bits;
    return s;
}

/* one line's payload (the scanner's, while it is in cache): its request shape (RQ_*) when it
 * is a request line that needs no event, its fields appended to the part's (a PReq, and their
 * texts); else 0 (and 0 when out of memory: part->oom, the scan fails) */
static int scan_req_line(const void *cfg, const unsigned char *p, Py_ssize_t n, int is_json, ScanPart *part) {
    Req r;
    if (!req_parse(p, n, is_json, &((const ScanReqCfg *)cfg)->c, &r)) return 0;
    const Span *sp[6] = {&r.method, &r.route, &r.dur, &r.upstream, &r.service, &r.pod};
    Py_ssize_t need = 0;
    for (int f = 0; f < 6; f++)
        if (sp[f]->len > 0) need += f == 1 ? 3 * sp[f]->len + 3 : sp[f]->len; /* (":id" for a 1-byte id) */
    if (part_room(part, &part->arena, &part->cap, part->na * SIZEOF_PREQ, SIZEOF_PREQ) < 0 ||
        part_room(part, &part->text, &part->tcap, part->ntext, need) < 0)
        return 0;
    PReq *o = (PReq *)(part->arena + part->na * SIZEOF_PREQ);
    o->status = r.status;
    o->kind = (uint8_t)r.kind;
    o->has_pid = (uint8_t)r.has_pid;
    o->route_raw = 0;
    o->pad_ = 0;
    o->pid = r.pid;
    for (int f = 0; f < 6; f++) {
        if (sp[f]->len < 0) {
            o->off[f] = 0;
            o->len[f] = -1;
            continue;
        }
        unsigned char *dst = part->text + part->ntext;
        Py_ssize_t w;
        if (f == 1 && ascii_only(p + sp[f]->off, sp[f]->len)) {
            w = route_templ(p + sp[f]->off, sp[f]->len, dst);
        } else {
            memcpy(dst, p + sp[f]->off, (size_t)sp[f]->len);
            w = sp[f]->len;
            if (f == 1) o->route_raw = 1; /* not templated here: requests.route_template */
        }
        o->off[f] = (int32_t)part->ntext;
        o->len[f] = (int32_t)w;
        part->ntext += w;
    }
    part->na++;
    return r.kind;
}

/* requests_fields(idx, marks, store, text)
 *   -> {kind: uint8, status: int32, pid: int64 (INT64_MIN: none), route_raw: uint8, and per text
 *       field (method, route, dur, upstream, service, pod) (offsets, bytes, valid)} for lines idx
 *   (request lines the scan took, ascending: `marks`, `store` and `text` are scan()'s req,
 *   req_fields and req_text: a record per marked line in line order, and their texts) */
static PyObject *py_requests_fields(PyObject *self, PyObject *args) {
    Py_buffer b_idx, b_mark, b_store, b_text;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &b_idx, &b_mark, &b_store, &b_text)) return NULL;
    Py_buffer *bufs[] = {&b_idx, &b_mark, &b_store, &b_text};
    PyObject *out = NULL;
    const PReq **rs = NULL;
    Py_ssize_t n = b_mark.len, m = b_idx.len / 8;
    const int64_t *idx = b_idx.buf;
    const uint8_t *mark = b_mark.buf;
    const PReq *store = b_store.buf;
    const unsigned char *text = b_text.buf;
    Py_ssize_t nstore = b_store.len / (Py_ssize_t)sizeof(PReq);
    if (b_store.len % (Py_ssize_t)sizeof(PReq)) {
        PyErr_SetString(PyExc_ValueError, "requests_fields: not a list of records");
        goto done;
    }
    rs = malloc((size_t)(m ? m : 1) * sizeof(PReq *));
    if (!rs) { PyErr_NoMemory(); goto done; }
    Py_ssize_t tot[6] = {0, 0, 0, 0, 0, 0};
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    /* a line's record is the store's entry of its rank among the marked lines (idx ascending) */
    Py_ssize_t line = 0, rank = -1;
    for (Py_ssize_t k = 0; k < m && !bad; k++) {
        int64_t i = idx[k];
        if (i < line || i >= n) { bad = 1; break; }
        if (!mark[i]) { bad = 2; break; }
        for (; line <= i; line++) rank += mark[line] != 0;
        if (rank >= nstore) { bad = 1; break; }
        rs[k] = &store[rank];
        for (int f = 0; f < 6; f++) {
            if (rs[k]->len[f] > 0) {
                if (rs[k]->off[f] < 0 || rs[k]->off[f] + (int64_t)rs[k]->len[f] > b_text.len) { bad = 1; break; }
                tot[f] += rs[k]->len[f];
            }
        }
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, bad == 1 ? "requests_fields: line out of range" : "requests_fields: not a request line");
        goto done;
    }
    Arr kind, status, pid, offs[6], txt[6], valid[6], rraw;
    PyObject *objs[22];
    int nobj = 0, fail = 0;
    fail |= arr_new(&rraw, m, 1) < 0; objs[nobj++] = fail ? NULL : rraw.obj;
    fail |= arr_new(&kind, m, 1) < 0; objs[nobj++] = fail ? NULL : kind.obj;
    fail |= arr_new(&status, m, 4) < 0; objs[nobj++] = fail ? NULL : status.obj;
    fail |= arr_new(&pid, m, 8) < 0; objs[nobj++] = fail ? NULL : pid.obj;
    for (int f = 0; f < 6 && !fail; f++) {
        fail |= arr_new(&offs[f], m + 1, 8) < 0; objs[nobj++] = fail ? NULL : offs[f].obj;
        if (!fail) { fail |= arr_new(&txt[f], tot[f], 1) < 0; objs[nobj++] = fail ? NULL : txt[f].obj; }
        if (!fail) { fail |= arr_new(&valid[f], m, 1) < 0; objs[nobj++] = fail ? NULL : valid[f].obj; }
    }
    if (fail) {
        for (int x = 0; x < nobj; x++) Py_XDECREF(objs[x]);
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t pos[6] = {0, 0, 0, 0, 0, 0};
    for (Py_ssize_t k = 0; k < m; k++) {
        const PReq *r = rs[k];
        ((uint8_t *)kind.p)[k] = r->kind;
        ((int32_t *)status.p)[k] = r->status;
        ((int64_t *)pid.p)[k] = r->has_pid ? r->pid : NONE64;
        ((uint8_t *)rraw.p)[k] = r->route_raw;
        for (int f = 0; f < 6; f++) {
            if (r->len[f] >= 0) {
                memcpy(txt[f].p + pos[f], text + r->off[f], (size_t)r->len[f]);
                pos[f] += r->len[f];
                ((uint8_t *)valid[f].p)[k] = 1;
            }
            ((int64_t *)offs[f].p)[k + 1] = pos[f];
        }
    }
    Py_END_ALLOW_THREADS
    static const char *names[6] = {"method", "route", "dur", "upstream", "service", "pod"};
    out = Py_BuildValue("{s:N,s:N,s:N,s:N}", "kind", kind.obj, "status", status.obj, "pid", pid.obj, "route_raw", rraw.obj);
    if (!out) {
        for (int f = 0; f < 6; f++) { Py_DECREF(offs[f].obj); Py_DECREF(txt[f].obj); Py_DECREF(valid[f].obj); }
        goto done;
    }
    for (int f = 0; f < 6; f++) {
        PyObject *t = Py_BuildValue("(NNN)", offs[f].obj, txt[f].obj, valid[f].obj);
        if (!t || PyDict_SetItemString(out, names[f], t) < 0) {
            Py_XDECREF(t);
            for (int g = f + 1; g < 6; g++) { Py_DECREF(offs[g].obj); Py_DECREF(txt[g].obj); Py_DECREF(valid[g].obj); }
            Py_CLEAR(out);
            goto done;
        }
        Py_DECREF(t);
    }
done:
    free(rs);
    for (size_t k = 0; k < sizeof(bufs) / sizeof(bufs[0]); k++) PyBuffer_Release(bufs[k]);
    return out;
}

static PyMethodDef methods[] = {
    {"requests_fields", py_requests_fields, METH_VARARGS, "requests_fields(idx, marks, store, text) -> the rollup fields of those lines (scan()'s req, req_fields, req_text)"},
    {"arrow_export", py_arrow_export, METH_VARARGS, "arrow_export(fmt, n, data, offsets) -> (schema, array) PyCapsules"},
    {"stream_values", py_stream_values, METH_VARARGS, "stream_values(stream capsule, itemsize) -> the values of a null-free column"},
    {"literal_masks", py_literal_masks, METH_VARARGS, "literal_masks(litset, bits, stream capsule) -> int64 OR of bits per string"},
    {"indices", py_indices, METH_VARARGS, "indices(uint8 array, value) -> int64 positions of value"},
    {"gather", py_gather, METH_VARARGS, "gather(src, idx, itemsize) -> the items at idx"},
    {"scatter", py_scatter, METH_VARARGS, "scatter(dst, idx, src, itemsize)"},
    {"join_events", py_join_events, METH_VARARGS, "join_events(offsets, bytes, rows, evt, contp) -> one text per event"},
    {"strings", py_strings, METH_VARARGS, "strings(data, idx, start, raw_len, pay_off, ts_off, ts_len) -> Arrow buffers"},
    {"scan", py_scan, METH_VARARGS, "scan(data, envelope, bom, hits) -> dict of per-line arrays"},
    {"literal_set", py_literal_set, METH_VARARGS, "literal_set(literals, buckets) -> compiled literal set"},
    {"literal_simd", py_literal_simd, METH_O, "literal_simd(on): use the SIMD kernel when the CPU has it (tests turn it off)"},
    {"find_literals", py_find_literals, METH_VARARGS, "find_literals(litset, data) -> int64 start offsets"},
    {"assemble", py_assemble, METH_VARARGS, "assemble(...) -> folding, rejects, cut, index groups, event rows"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", "pmortem native line scanner", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__scan(void) {
    init_tables();
    for (int v = 0; v < 256; v++) lit_lower[v] = ascii_lower((unsigned char)v);
    return PyModule_Create(&module);
}
