/* Batch verification of recoverable secp256k1 ECDSA signatures against known public keys (issue 13).
 *
 * A signature (r, s, v) over the digest z recovers to the public key Q  iff  s*R == z*G + r*Q, where R is
 * the curve point with x = r and y of parity v - 27 (ecrecover computes Q = r^-1 (s*R - z*G)). For a batch
 * with random 128-bit coefficients a_i (from the caller: os.urandom) the check is ONE multi-scalar
 * multiplication (libsecp256k1's Pippenger, secp256k1_ecmult_pippenger_wnaf, in pieces of at most 8192
 * signatures; its ecmult_multi_var below 256 signatures):
 *
 *     sum_i a_i R_i  +  sum_i (-a_i r_i / s_i) Q_i  +  (-sum_i a_i z_i / s_i) G  ==  O
 *
 * (each signature's equation divided by s_i, so that R_i's scalar is the 128-bit a_i: a cheaper term; the
 * s_i^-1 come from one scalar inversion).
 *
 * A batch that fails is searched by group testing (find_bad) down to single signatures, whose check is
 * exact, so every signature gets its own verdict (or, when many are bad, "undetermined": the caller
 * recovers them). The per-signature checks are those of transactive.crypto.signing.recover_public_key:
 * 0 < r < n, 0 < s <= n/2 (low s), v in {27, 28}, R on the curve; z is reduced mod n as
 * secp256k1_ecdsa_recover does.
 *
 * Compiled by scripts/setup-secp256k1-batch.sh against the pinned libsecp256k1 sources (the npm package
 * secp256k1 5.0.1 bundles them); its implementation files are #included, so only this module's init is
 * exported. The GIL is released during the check.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define USE_NUM_NONE 1
#define USE_FIELD_INV_BUILTIN 1
#define USE_SCALAR_INV_BUILTIN 1
#define USE_ENDOMORPHISM 1
#define ECMULT_WINDOW_SIZE 15
#define ECMULT_GEN_PREC_BITS 4
#if defined(__x86_64__) && defined(__SIZEOF_INT128__)
#define HAVE___INT128 1
#define USE_ASM_X86_64 1
#define USE_FIELD_5X52 1
#define USE_SCALAR_4X64 1
#elif defined(__SIZEOF_INT128__)
#define HAVE___INT128 1
#define USE_FIELD_5X52 1
#define USE_SCALAR_4X64 1
#else
#define USE_FIELD_10X26 1
#define USE_SCALAR_8X32 1
#endif

#include "secp256k1.c"

#define STATUS_VALID 0
#define STATUS_MALFORMED 1   /* r, s or v out of range, or no curve point with x = r */
#define STATUS_BAD_KEY 2     /* the public key is not a curve point */
#define STATUS_MISMATCH 3    /* well formed, but s*R != z*G + r*Q: recovery gives another key */
#define STATUS_UNDETERMINED 4 /* in a batch with many bad signatures: not checked alone (recover it) */

static secp256k1_context *batch_ctx = NULL;
static void batch_error_callback(const char *message, void *data) {
    (void)message;
    (void)data;
    /* only checked_malloc reaches it here (out of memory): scratch_create then returns NULL */
}

typedef struct {
    secp256k1_ge *points;       /* 2 per signature: R_i, Q_i */
    secp256k1_scalar *scalars;  /* a_i s_i, -a_i r_i */
    size_t *index;              /* the well-formed signatures' positions in points / 2 */
} batch_data;

static int batch_callback(secp256k1_scalar *sc, secp256k1_ge *pt, size_t idx, void *data) {
    const batch_data *d = (const batch_data *)data;
    size_t k = 2 * d->index[idx / 2] + (idx & 1);
    *sc = d->scalars[k];
    *pt = d->points[k];
    return 1;
}

/* ---- Pippenger ---------------------------------------------------------------------------------------------
 * libsecp256k1's Pippenger (secp256k1_ecmult_pippenger_wnaf: its windows, signed digits, buckets), fed as
 * secp256k1_ecmult_pippenger_batch feeds it -- each scalar split by the endomorphism into two ~128-bit halves
 * -- except that a scalar already below 2^128 (R_i's a_i) is not split: split_lambda would give it a
 * second, nonzero half (the same one for many points), i.e. twice the bucket additions. */
#define PIPPENGER_MIN_POINTS 512          /* below: libsecp256k1's ecmult_multi_var (Strauss) */
#define PIPPENGER_MAX_SIGNATURES 8192     /* per multiplication (~6 MB; larger gains little: window 12) */

static int is_128_bits(const secp256k1_scalar *s) {
    return secp256k1_scalar_get_bits(s, 128, 32) == 0 && secp256k1_scalar_get_bits(s, 160, 32) == 0
           && secp256k1_scalar_get_bits(s, 192, 32) == 0 && secp256k1_scalar_get_bits(s, 224, 32) == 0;
}

/* r = sum_k scs[k] pts[k] (k < count; affine points); 0 when out of memory. */
static int msm_pippenger(secp256k1_gej *r, const secp256k1_ge *const *pts, const secp256k1_scalar *const *scs,
                         size_t count) {
    int w = secp256k1_pippenger_bucket_window(count), ok = 0;
    size_t entries = 2 * count, k;
    secp256k1_ge *points = (secp256k1_ge *)malloc(entries * sizeof(secp256k1_ge));
    secp256k1_scalar *scalars = (secp256k1_scalar *)malloc(entries * sizeof(secp256k1_scalar));
    secp256k1_gej *buckets = (secp256k1_gej *)malloc(((size_t)1 << w) * sizeof(secp256k1_gej));
    struct secp256k1_pippenger_state state;
    state.ps = (struct secp256k1_pippenger_point_state *)malloc(entries * sizeof(*state.ps));
    state.wnaf_na = (int *)malloc(entries * WNAF_SIZE(w + 1) * sizeof(int));
    if (points != NULL && scalars != NULL && buckets != NULL && state.ps != NULL && state.wnaf_na != NULL) {
        for (k = 0; k < count; k++) {
            scalars[2 * k] = *scs[k];
            points[2 * k] = *pts[k];
            if (is_128_bits(&scalars[2 * k])) {
                secp256k1_scalar_set_int(&scalars[2 * k + 1], 0);  /* skipped by pippenger_wnaf */
                points[2 * k + 1] = points[2 * k];
            } else {
                secp256k1_ecmult_endo_split(&scalars[2 * k], &scalars[2 * k + 1], &points[2 * k], &points[2 * k + 1]);
            }
        }
        ok = secp256k1_ecmult_pippenger_wnaf(buckets, w, &state, r, scalars, points, entries);
    }
    free(points);
    free(scalars);
    free(buckets);
    free(state.ps);
    free(state.wnaf_na);
    return ok;
}

/* 1 if the well-formed signatures index[0..m) pass the combined check; az: a_i z_i per signature. */
static int check_range(secp256k1_scratch *scratch, const secp256k1_ge *points, const secp256k1_scalar *scalars,
                       const secp256k1_scalar *az, size_t *index, size_t m) {
    batch_data d;
    secp256k1_scalar g;
    secp256k1_gej sum;
    size_t i;
    d.points = (secp256k1_ge *)points;
    d.scalars = (secp256k1_scalar *)scalars;
    d.index = index;
    secp256k1_scalar_set_int(&g, 0);
    for (i = 0; i < m; i++) {
        secp256k1_scalar_add(&g, &g, &az[index[i]]);
    }
    secp256k1_scalar_negate(&g, &g);
    if (2 * m >= PIPPENGER_MIN_POINTS) {
        size_t chunk = m < PIPPENGER_MAX_SIGNATURES ? m : PIPPENGER_MAX_SIGNATURES, lo;
        const secp256k1_ge **pts = (const secp256k1_ge **)malloc(2 * chunk * sizeof(*pts));
        const secp256k1_scalar **scs = (const secp256k1_scalar **)malloc(2 * chunk * sizeof(*scs));
        secp256k1_gej part, inf;
        secp256k1_scalar zero;
        int ok = pts != NULL && scs != NULL;
        secp256k1_gej_set_infinity(&sum);
        for (lo = 0; ok && lo < m; lo += chunk) {  /* bounded memory: at most 2 * chunk points at once */
            size_t count = m - lo < chunk ? m - lo : chunk;
            for (i = 0; i < 2 * count; i++) {
                size_t k = 2 * index[lo + i / 2] + (i & 1);
                pts[i] = &points[k];
                scs[i] = &scalars[k];
            }
            ok = msm_pippenger(&part, pts, scs, 2 * count);
            secp256k1_gej_add_var(&sum, &sum, &part, NULL);
        }
        free(pts);
        free(scs);
        if (!ok) return -1;
        secp256k1_gej_set_infinity(&inf);
        secp256k1_scalar_set_int(&zero, 0);
        secp256k1_ecmult(&batch_ctx->ecmult_ctx, &part, &inf, &zero, &g);  /* (-sum a_i z_i / s_i) G */
        secp256k1_gej_add_var(&sum, &sum, &part, NULL);
        return secp256k1_gej_is_infinity(&sum);
    }
    if (!secp256k1_ecmult_multi_var(&batch_ctx->error_callback, &batch_ctx->ecmult_ctx, scratch, &sum, &g,
                                    batch_callback, &d, 2 * m)) {
        return -1;
    }
    return secp256k1_gej_is_infinity(&sum);
}

#define GROUPS 16
#define GROUP_MIN 256  /* a smaller multiplication costs more per point (Strauss below ~88 points) */
#define SINGLES 4

/* index[0..m) failed together: find the failing signatures by group testing -- split into up to GROUPS
 * groups (of at least GROUP_MIN signatures where the range allows), check each (the same coefficients: the groups' sums add up to the failed sum, so at least one
 * fails), descend into the failing ones; a range of at most SINGLES is checked one signature at a time (the
 * single check is exact). When more than half the groups fail, the bad signatures are many: their
 * signatures are left STATUS_UNDETERMINED (the caller recovers them), which bounds the work at about two
 * batch checks per signature. */
static int find_bad(secp256k1_scratch *scratch, const secp256k1_ge *points, const secp256k1_scalar *scalars,
                    const secp256k1_scalar *az, size_t *index, size_t m, unsigned char *status) {
    size_t g, groups, failed = 0, i;
    unsigned char fails[GROUPS];
    int ok;
    if (m <= SINGLES) {
        for (i = 0; i < m; i++) {
            ok = check_range(scratch, points, scalars, az, index + i, 1);
            if (ok < 0) return -1;
            if (!ok) status[index[i]] = STATUS_MISMATCH;
        }
        return 0;
    }
    groups = m >= GROUPS * GROUP_MIN ? GROUPS : m >= 2 * GROUP_MIN ? m / GROUP_MIN : m < GROUPS ? m : GROUPS;
    for (g = 0; g < groups; g++) {
        size_t lo = g * m / groups, hi = (g + 1) * m / groups;
        ok = check_range(scratch, points, scalars, az, index + lo, hi - lo);
        if (ok < 0) return -1;
        fails[g] = (unsigned char)!ok;
        failed += !ok;
    }
    for (g = 0; g < groups; g++) {
        size_t lo = g * m / groups, hi = (g + 1) * m / groups;
        if (!fails[g]) continue;
        if (2 * failed > groups) {
            for (i = lo; i < hi; i++) status[index[i]] = STATUS_UNDETERMINED;
        } else if (find_bad(scratch, points, scalars, az, index + lo, hi - lo, status) < 0) {
            return -1;
        }
    }
    return 0;
}

/* the scratch space of ecmult_multi_var: enough for its multiplications (fewer than PIPPENGER_MIN_POINTS) */
static size_t scratch_bytes(void) {
    size_t pippenger = secp256k1_pippenger_scratch_size(PIPPENGER_MIN_POINTS,
                                                        secp256k1_pippenger_bucket_window(PIPPENGER_MIN_POINTS))
                       + PIPPENGER_SCRATCH_OBJECTS * ALIGNMENT;
    size_t strauss = secp256k1_strauss_scratch_size(ECMULT_PIPPENGER_THRESHOLD) + STRAUSS_SCRATCH_OBJECTS * ALIGNMENT;
    return pippenger > strauss ? pippenger : strauss;
}

/* status[n] from the inputs; returns 0, or -1 when out of memory. */
static int verify_batch(size_t n, const unsigned char *sigs, const unsigned char *digests,
                        const unsigned char *keys, const unsigned char *coefs, unsigned char *status) {
    secp256k1_ge *points = NULL;
    secp256k1_scalar *scalars = NULL, *az = NULL, *inv = NULL, *prefix = NULL, acc;
    size_t *index = NULL;
    secp256k1_scratch *scratch = NULL;
    size_t i, m = 0;
    int ok, ret = -1;

    points = (secp256k1_ge *)malloc(2 * n * sizeof(secp256k1_ge) + 1);
    scalars = (secp256k1_scalar *)malloc(2 * n * sizeof(secp256k1_scalar) + 1);
    az = (secp256k1_scalar *)malloc(n * sizeof(secp256k1_scalar) + 1);
    inv = (secp256k1_scalar *)malloc(n * sizeof(secp256k1_scalar) + 1);
    prefix = (secp256k1_scalar *)malloc(n * sizeof(secp256k1_scalar) + 1);
    index = (size_t *)malloc(n * sizeof(size_t) + 1);
    if (points == NULL || scalars == NULL || az == NULL || inv == NULL || prefix == NULL || index == NULL) goto done;

    for (i = 0; i < n; i++) {
        const unsigned char *sig = sigs + 65 * i, *key = keys + 64 * i;
        unsigned char a32[32];
        secp256k1_scalar r, s, z, a;
        secp256k1_fe x, y;
        secp256k1_ge q;
        int overflow = 0, v = sig[64];
        status[i] = STATUS_MALFORMED;
        secp256k1_scalar_set_b32(&r, sig, &overflow);
        if (overflow || secp256k1_scalar_is_zero(&r)) continue;
        secp256k1_scalar_set_b32(&s, sig + 32, &overflow);
        if (overflow || secp256k1_scalar_is_zero(&s) || secp256k1_scalar_is_high(&s)) continue;
        if (v != 27 && v != 28) continue;
        if (!secp256k1_fe_set_b32(&x, sig)) continue;  /* r < n < p: always set */
        if (!secp256k1_ge_set_xo_var(&points[2 * i], &x, v - 27)) continue;
        status[i] = STATUS_BAD_KEY;
        if (!secp256k1_fe_set_b32(&x, key) || !secp256k1_fe_set_b32(&y, key + 32)) continue;
        secp256k1_ge_set_xy(&q, &x, &y);
        if (!secp256k1_ge_is_valid_var(&q)) continue;
        points[2 * i + 1] = q;
        status[i] = STATUS_VALID;
        memset(a32, 0, 16);
        memcpy(a32 + 16, coefs + 16 * i, 16);
        secp256k1_scalar_set_b32(&a, a32, NULL);
        if (secp256k1_scalar_is_zero(&a)) secp256k1_scalar_set_int(&a, 1);
        secp256k1_scalar_set_b32(&z, digests + 32 * i, NULL);  /* reduced mod n, as ecdsa_recover */
        scalars[2 * i] = a;                                       /* R_i's scalar: a_i (128 bits) */
        secp256k1_scalar_mul(&scalars[2 * i + 1], &a, &r);      /* times s_i^-1 below */
        secp256k1_scalar_negate(&scalars[2 * i + 1], &scalars[2 * i + 1]);
        secp256k1_scalar_mul(&az[i], &a, &z);                     /* times s_i^-1 below */
        inv[m] = s;
        index[m++] = i;
    }
    if (m == 0) {
        ret = 0;
        goto done;
    }
    /* every s_i^-1 from one inversion (Montgomery's trick: prefix products, then back) */
    prefix[0] = inv[0];
    for (i = 1; i < m; i++) secp256k1_scalar_mul(&prefix[i], &prefix[i - 1], &inv[i]);
    secp256k1_scalar_inverse_var(&acc, &prefix[m - 1]);
    for (i = m; i-- > 1;) {
        secp256k1_scalar t;
        secp256k1_scalar_mul(&t, &acc, &prefix[i - 1]);          /* s_i^-1 */
        secp256k1_scalar_mul(&acc, &acc, &inv[i]);
        inv[i] = t;
    }
    inv[0] = acc;
    for (i = 0; i < m; i++) {
        size_t k = index[i];
        secp256k1_scalar_mul(&scalars[2 * k + 1], &scalars[2 * k + 1], &inv[i]);
        secp256k1_scalar_mul(&az[k], &az[k], &inv[i]);
    }
    scratch = secp256k1_scratch_create(&batch_ctx->error_callback, scratch_bytes());
    if (scratch == NULL) goto done;
    ok = check_range(scratch, points, scalars, az, index, m);
    if (ok < 0) goto done;
    if (!ok && find_bad(scratch, points, scalars, az, index, m, status) < 0) goto done;
    ret = 0;
done:
    if (scratch != NULL) secp256k1_scratch_destroy(&batch_ctx->error_callback, scratch);
    free(points);
    free(scalars);
    free(az);
    free(inv);
    free(prefix);
    free(index);
    return ret;
}

PyDoc_STRVAR(verify_doc,
"verify(signatures, digests, public_keys, coefficients) -> bytes\n\n"
"n signatures r||s||v (65 bytes each), their 32-byte digests, the 64-byte X||Y public keys they must\n"
"recover to, 16 random bytes per signature (the batch coefficients); one status byte per signature:\n"
"0 valid (recovery gives that key), 1 malformed (r, s, v, R), 2 not a public key, 3 recovers to another key,\n"
"4 undetermined (one of many bad signatures: not checked alone).");

static PyObject *py_verify(PyObject *self, PyObject *args) {
    Py_buffer sigs, digests, keys, coefs;
    PyObject *out;
    size_t n;
    int ret;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &sigs, &digests, &keys, &coefs)) return NULL;
    n = (size_t)sigs.len / 65;
    if ((size_t)sigs.len != 65 * n || (size_t)digests.len != 32 * n || (size_t)keys.len != 64 * n
        || (size_t)coefs.len != 16 * n) {
        PyErr_SetString(PyExc_ValueError, "per signature: 65 signature, 32 digest, 64 key, 16 coefficient bytes");
        out = NULL;
        goto release;
    }
    if (batch_ctx == NULL) {  /* built on first use (~30 ms: the tables of multiples of G), under the GIL */
        batch_ctx = secp256k1_context_create(SECP256K1_CONTEXT_VERIFY);
        if (batch_ctx == NULL) {
            out = PyErr_NoMemory();
            goto release;
        }
        secp256k1_context_set_error_callback(batch_ctx, batch_error_callback, NULL);
    }
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
    if (out == NULL) goto release;
    Py_BEGIN_ALLOW_THREADS
    ret = verify_batch(n, (const unsigned char *)sigs.buf, (const unsigned char *)digests.buf,
                       (const unsigned char *)keys.buf, (const unsigned char *)coefs.buf,
                       (unsigned char *)PyBytes_AS_STRING(out));
    Py_END_ALLOW_THREADS
    if (ret < 0) {
        Py_DECREF(out);
        out = PyErr_NoMemory();
    }
release:
    PyBuffer_Release(&sigs);
    PyBuffer_Release(&digests);
    PyBuffer_Release(&keys);
    PyBuffer_Release(&coefs);
    return out;
}

static PyMethodDef methods[] = {
    {"verify", py_verify, METH_VARARGS, verify_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_secp256k1_batch",
    "Batch verification of recoverable secp256k1 signatures against known public keys (libsecp256k1).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__secp256k1_batch(void) {
    return PyModule_Create(&module);
}
