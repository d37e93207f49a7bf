/*
 * libFuzzer harness for the native scanner's C entry points (parsers/_scan.c).
 *
 *   make fuzz                  (builds build/fuzz/fuzz_scan, runs it FUZZ_SECONDS)
 *   build/fuzz/fuzz_scan -runs=0 fuzz/corpus/...   (replays the corpus once)
 *
 * _scan.c is compiled into this program (#include below) with
 * -fsanitize=fuzzer,address,undefined, and an embedded CPython provides the objects its
 * entry points take. Per input (format: fuzz/differential.py; byte 0 the envelope, bit 2
 * a byte-order mark, bit 3 the two-thread scan; byte 1 seeds the rest) it runs what
 * parsers/native.py runs on a chunk:
 *
 *   scan (one thread; and two threads, whose arrays must be identical), indices,
 *   scatter (the deferred lines' values: taken from the input, in and out of range),
 *   assemble (FOLD_WINDOW or a small window from the seed; final or not), gather,
 *   strings, join_events, find_literals (the SIMD kernel and the byte loop must agree).
 *
 * The literal set is the catalogue's (fuzz/litset.h, written by fuzz/gen_litset.py).
 * A Python exception where the arguments are valid aborts (a crash to look at); an error
 * assemble reports for out-of-range values scattered in is expected and cleared.
 */
#include "../parsers/_scan.c"

#include "litset.h" /* LITS[], LIT_BUCKET[], LIT_FP */

static PyObject *g_lits;

static void die(const char *what) {
    fprintf(stderr, "fuzz_scan: %s\n", what);
    if (PyErr_Occurred()) PyErr_Print();
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    Py_InitializeEx(0);
    init_tables();
    size_t n = sizeof(LITS) / sizeof(LITS[0]);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; i < n; i++) PyList_SET_ITEM(list, (Py_ssize_t)i, PyBytes_FromString(LITS[i]));
    PyObject *args = Py_BuildValue("(Ny#i)", list, (const char *)LIT_BUCKET, (Py_ssize_t)n, LIT_FP);
    g_lits = py_literal_set(NULL, args);
    Py_DECREF(args);
    if (!g_lits) die("literal_set");
    return 0;
}

static PyObject *call(PyObject *(*fn)(PyObject *, PyObject *), PyObject *args, const char *name) {
    if (!args) die(name);
    PyObject *r = fn(NULL, args);
    Py_DECREF(args);
    if (!r) die(name);
    return r;
}

static PyObject *item(PyObject *d, const char *key) {
    PyObject *v = PyDict_GetItemString(d, key);
    if (!v) die(key);
    return v;
}

/* a bytearray copy of a scan array, with the deferred lines' values (idx) replaced by
 * values drawn from the input: what native.py's scatter of polars' answers does */
static PyObject *patched(PyObject *arr, PyObject *idx, int size, const uint8_t *src, size_t srclen, int mod, int lo) {
    PyObject *copy = PyByteArray_FromObject(arr);
    if (!copy) die("bytearray");
    Py_ssize_t k = PyObject_Size(idx) / 8;
    if (k == 0) return copy;
    PyObject *vals = PyBytes_FromStringAndSize(NULL, k * size);
    unsigned char *v = (unsigned char *)PyBytes_AS_STRING(vals);
    for (Py_ssize_t i = 0; i < k; i++) {
        uint8_t b = srclen ? src[(size_t)i % srclen] : 0;
        if (mod) {
            int64_t x = (int64_t)(b % mod) + lo;
            memcpy(v + i * size, &x, (size_t)size); /* little-endian: the low bytes */
        } else {
            for (int j = 0; j < size; j++) v[i * size + j] = srclen ? src[((size_t)i * size + j) % srclen] : 0;
        }
    }
    PyObject *r = call(py_scatter, Py_BuildValue("(OOOi)", copy, idx, vals, size), "scatter");
    Py_DECREF(r);
    Py_DECREF(vals);
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size) {
    if (size < 2) return 0;
    int flags = buf[0], seed = buf[1];
    int envelope = (flags % 3) == 2 ? ENV_CRI : ENV_KUBECTL;
    int bom = (flags & 4) != 0, split = (flags & 8) != 0;
    const uint8_t *body = buf + 2;
    size_t blen = size - 2;
    PyObject *data;
    if (bom) {
        data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)blen + 3);
        memcpy(PyBytes_AS_STRING(data), "\xef\xbb\xbf", 3);
        memcpy(PyBytes_AS_STRING(data) + 3, body, blen);
    } else {
        data = PyBytes_FromStringAndSize((const char *)body, (Py_ssize_t)blen);
    }

    /* request lines (issue 18.2): the scan parses them (its request plan: literal bits drawn
     * from the input); requests_fields must gather every line it marked */
    const uint8_t *src = body;
    size_t srclen = blen < 64 ? blen : 64;
    Py_ssize_t nlit = (Py_ssize_t)(sizeof(LITS) / sizeof(LITS[0]));
    PyObject *bits = PyBytes_FromStringAndSize(NULL, nlit * 8);
    for (Py_ssize_t i = 0; i < nlit; i++) {
        int64_t x = srclen ? (src[(size_t)i % srclen] ^ seed) & 15 : 4;
        memcpy(PyBytes_AS_STRING(bits) + i * 8, &x, 8);
    }
    double slow = (seed & 16) ? 400.0 : 27.0;
    PyObject *r = call(py_scan, Py_BuildValue("(OiiOnOOid)", data, envelope, bom, g_lits, (Py_ssize_t)0, g_lits, bits, 7, slow),
                       "scan");
    if (split) { /* two threads (split at any size): the same arrays, entities and request fields */
        PyObject *r2 = call(py_scan, Py_BuildValue("(OiiOnOOid)", data, envelope, bom, g_lits, (Py_ssize_t)1, g_lits, bits, 7, slow),
                            "scan split");
        if (PyObject_RichCompareBool(r, r2, Py_EQ) != 1) die("the two-thread scan differs from the one-thread scan");
        Py_DECREF(r2);
    }
    Py_ssize_t n_ents = PyList_GET_SIZE(item(r, "ents"));

    /* the deferred lines get values as if polars had decided them */
    PyObject *defer = call(py_indices, Py_BuildValue("(Oi)", item(r, "status"), ST_DEFER), "indices");
    PyObject *ones = PyByteArray_FromStringAndSize(NULL, PyByteArray_GET_SIZE(item(r, "status")));
    memset(PyByteArray_AS_STRING(ones), 1, (size_t)PyByteArray_GET_SIZE(ones));
    PyObject *envok = patched(ones, defer, 1, src, srclen, 2, 0);
    PyObject *hasts = patched(ones, defer, 1, src + (srclen > 1), srclen - (srclen > 1), 2, 0);
    PyObject *mins = patched(item(r, "minute"), defer, 8, src, srclen, seed & 1 ? 0 : 3, 28000000);
    PyObject *uss = patched(item(r, "ts_us"), defer, 8, src, srclen, 0, 0);
    /* in range, or (seed bit 1) sometimes not: assemble must refuse those, not read past */
    PyObject *ent = patched(item(r, "ent"), defer, 4, src, srclen, (int)n_ents + 1 + ((seed >> 1) & 1), -1);
    PyObject *stream = patched(item(r, "stream"), defer, 1, src, srclen, 3 + ((seed >> 1) & 1), 0);
    PyObject *partial = patched(item(r, "partial"), defer, 1, src, srclen, 2, 0);
    PyObject *cont = patched(item(r, "cont"), defer, 1, src, srclen, 2, 0);
    PyObject *level = patched(item(r, "level"), defer, 1, src, srclen, 7, -1);
    PyObject *hit = patched(item(r, "hit"), defer, 1, src, srclen, 2, 0);

    Py_ssize_t window = (seed & 4) ? (seed >> 3) % 5 : 1000;
    int final = (seed >> 5) & 1, requires_ts = (seed >> 6) & 1;
    PyObject *req = item(r, "req");
    for (int k = 1; k <= 3; k++) {
        PyObject *ri = call(py_indices, Py_BuildValue("(Oi)", req, k), "indices req");
        Py_DECREF(call(py_requests_fields, Py_BuildValue("(OOOO)", ri, req, item(r, "req_fields"), item(r, "req_text")),
                       "requests_fields"));
        Py_DECREF(ri);
    }
    /* plain files (issue 18.3): the same bytes scanned without an envelope */
    Py_DECREF(call(py_scan, Py_BuildValue("(OiiOnOOid)", data, ENV_PLAIN, bom, g_lits, (Py_ssize_t)(split ? 1 : 0), g_lits,
                                          bits, 7, slow), "scan plain"));

    PyObject *args = Py_BuildValue("(OOOOOOOOOOOOOiiinO)", item(r, "status"), envok, hasts, mins, uss, ent, stream,
                                   partial, cont, level, hit, item(r, "start"), item(r, "raw_len"), requires_ts,
                                   final, (int)n_ents, window, (seed & 2) ? req : Py_None);
    PyObject *a = py_assemble(NULL, args);
    Py_DECREF(args);
    if (!a) {
        /* only out-of-range scattered values may be refused */
        if (!((seed >> 1) & 1) || !PyErr_ExceptionMatches(PyExc_ValueError)) die("assemble");
        PyErr_Clear();
    } else {
        PyObject *idx = item(a, "sel_idx");
        static const struct { const char *name; int size; } cols[] = {{"start", 8}, {"stream", 1}, {"is_json", 1}, {"ent", 4}, {"ts_us", 8}};
        for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
            Py_DECREF(call(py_gather, Py_BuildValue("(OOi)", item(r, cols[c].name), idx, cols[c].size), "gather"));
        PyObject *st = call(py_strings, Py_BuildValue("(OOOOOOO)", data, idx, item(r, "start"), item(r, "raw_len"),
                                                      item(r, "pay_off"), item(r, "ts_off"), item(r, "ts_len")), "strings");
        Py_DECREF(call(py_join_events, Py_BuildValue("(OOOOO)", PyTuple_GET_ITEM(st, 0), PyTuple_GET_ITEM(st, 1), idx,
                                                     item(a, "sel_evt"), item(a, "sel_contp")), "join_events"));
        Py_DECREF(st);
        /* the deferred lines' strings, as native.py asks for them (payload offset 0) */
        PyObject *zeros = PyByteArray_FromStringAndSize(NULL, 4 * PyByteArray_GET_SIZE(item(r, "status")));
        memset(PyByteArray_AS_STRING(zeros), 0, (size_t)PyByteArray_GET_SIZE(zeros));
        Py_DECREF(call(py_strings, Py_BuildValue("(OOOOOOO)", data, defer, item(r, "start"), item(r, "raw_len"), zeros,
                                                 zeros, zeros), "strings deferred"));
        Py_DECREF(zeros);
        Py_DECREF(a);
    }

    /* the literal search: SIMD kernel and byte loop give the same offsets */
    lit_simd = 1;
    PyObject *f1 = call(py_find_literals, Py_BuildValue("(OO)", g_lits, data), "find_literals");
    lit_simd = 0;
    PyObject *f0 = call(py_find_literals, Py_BuildValue("(OO)", g_lits, data), "find_literals scalar");
    lit_simd = 1;
    if (PyObject_RichCompareBool(f0, f1, Py_EQ) != 1) die("SIMD literal search differs from the byte loop");
    Py_DECREF(f0);
    Py_DECREF(f1);

    Py_DECREF(envok); Py_DECREF(hasts); Py_DECREF(mins); Py_DECREF(uss); Py_DECREF(ent); Py_DECREF(stream);
    Py_DECREF(partial); Py_DECREF(cont); Py_DECREF(level); Py_DECREF(hit); Py_DECREF(ones); Py_DECREF(defer);
    Py_DECREF(bits); /* (req: borrowed from r) */
    Py_DECREF(r);
    Py_DECREF(data);
    return 0;
}
