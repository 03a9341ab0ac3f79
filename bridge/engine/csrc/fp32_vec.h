/* Products of bf16 weights computed in fp32, for x86 CPUs without AVX512-BF16: AVX2+FMA
   (VW 8, built with -mavx2 -mfma) or AVX-512F (VW 16, built with -mavx512f). Written with GCC/
   Clang vector extensions (vector types of VW floats), so that one source serves both widths;
   the compiler turns them into ymm or zmm instructions. Same contract as bf16_matvec.h: a few
   input rows (bf16) against a weight matrix in nn.Linear's (out, in) layout, read once, in
   place, fp32 sums rounded to bf16 as torch's bf16 linear.

   bf16 to fp32 costs no conversion instruction: a 32-bit lane holding two bf16 values is the
   odd value as fp32 once its low half is cleared, and the even one once shifted left by 16;
   weights and inputs are both read this way, and the even and odd products summed. */
#ifndef FP32_VEC_H
#define FP32_VEC_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bf16_scalar.h"

#ifndef VW
#error "build with -DVW=8 (AVX2) or -DVW=16 (AVX-512F)"
#endif

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));
typedef uint32_t vu __attribute__((vector_size(VW * 4)));
typedef uint16_t vh __attribute__((vector_size(VW * 2)));

static inline vf vload(const float* p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(float* p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf vsplat(float s) { return (vf){0} + s; }
static inline float vsum(vf v) { float s = 0.0f; for (int i = 0; i < VW; i++) s += v[i]; return s; }

/* VW bf16 values (any alignment) as fp32 lanes. */
static inline vf load_bf16(const uint16_t* p) {
    vh h; memcpy(&h, p, sizeof h);
    return (vf)(__builtin_convertvector(h, vu) << 16);
}

/* 2 * VW bf16 values as two fp32 vectors: the even positions (lo) and the odd ones (hi). */
static inline void load_pairs(const uint16_t* p, vf* lo, vf* hi) {
    vu u; memcpy(&u, p, sizeof u);
    *lo = (vf)(u << 16);
    *hi = (vf)(u & 0xffff0000u);
}

/* mask ? a : b, per lane (mask lanes all ones or zero, as vector comparisons give) */
static inline vf vselect(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }

/* e^x per lane (Cody-Waite reduction, degree-7 polynomial, relative error ~1e-7); exactly 0
   below -87 (masked positions come in as -inf). Rounding by the 1.5 * 2^23 trick (round to
   nearest under the default rounding mode). */
static inline vf vexp(vf x) {
    const vi keep = x >= -87.0f;
    x = vselect(x < -87.0f, vsplat(-87.0f), x);
    x = vselect(x > 88.0f, vsplat(88.0f), x);
    vf n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    vf r = x - n * 0.693145751953125f;
    r = r - n * 1.428606765330187045e-06f;
    vf p = vsplat(1.0f / 5040);
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    return (vf)((vi)(p * (vf)e) & keep);
}

/* Exact (erf) GELU per lane, x * (1 + erf(x / sqrt 2)) / 2, as torch's default gelu; erf from
   Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, far below bf16's resolution), as
   bf16_matvec.h's gelu16. */
static inline vf vgelu(vf x) {
    const vf z = x * 0.70710678118654752f;
    const vf a = (vf)((vi)z & 0x7fffffff);
    const vf t = 1.0f / (a * 0.3275911f + 1.0f);
    vf p = vsplat(1.061405429f);
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    vf e = 1.0f - p * t * vexp(-(a * a));
    e = (vf)((vi)e | ((vi)z & (int32_t)0x80000000));                     /* erf is odd */
    return x * 0.5f * (1.0f + e);
}

/* t[0..n) = gelu of s[0..n) each rounded to bf16 first (as torch's GELU after a bf16 linear),
   computed whole vectors at a time: t needs room for n rounded up to VW (zeros past n). */
static inline void rounded_gelu(const float* s, int n, float* t) {
    const int padded = (n + VW - 1) / VW * VW;
    for (int i = 0; i < padded; i++) t[i] = i < n ? from_bf16(to_bf16(s[i])) : 0.0f;
    for (int i = 0; i < padded; i += VW) vstore(t + i, vgelu(vload(t + i)));
}

static inline void store(int mode, void* y, size_t at, const float* s, int R) {
    if (mode == STORE_F32) {
        float* yf = (float*)y + at;
        for (int r = 0; r < R; r++) yf[r] = from_bf16(to_bf16(s[r]));
        return;
    }
    uint16_t* yb = (uint16_t*)y + at;
    if (mode == STORE_GELU) {                           /* R <= 16 */
        float t[32];
        rounded_gelu(s, R, t);
        for (int r = 0; r < R; r++) yb[r] = to_bf16(t[r]);
        return;
    }
    for (int r = 0; r < R; r++) {
        const float v = from_bf16(to_bf16(s[r]));
        yb[r] = mode == STORE_ADD ? to_bf16(from_bf16(yb[r]) + v) : to_bf16(v);
    }
}

/* The sums of MM input rows against R weight rows (s: MM * R, input row after input row), stored
   to y's rows m0.. at columns n0..: with GELU, the MM * R values go through vgelu together,
   whole vectors at a time. Stored one input row at a time, a block of 2 weight rows (AVX2 with
   3 or more input rows) used 2 of vgelu's 8 lanes: with 4 variations on AVX2, fc1 took 1.4x
   the time per weight of the other products, now 1.06x (bench/step_profile.py); the step 1.06x
   faster on AVX2, 1.04x on AVX-512F (bench/step_ab.py --against). Same values either way. */
static inline void store_rows(int mode, void* y, int ldy, int n0, int m0, int MM, int R, const float* s) {
    if (mode == STORE_GELU && MM * R <= 32) {
        float t[32];
        rounded_gelu(s, MM * R, t);
        for (int m = 0; m < MM; m++)
            for (int r = 0; r < R; r++) ((uint16_t*)y)[(size_t)(m0 + m) * ldy + n0 + r] = to_bf16(t[m * R + r]);
        return;
    }
    for (int m = 0; m < MM; m++) store(mode, y, (size_t)(m0 + m) * ldy + n0, s + m * R, R);
}

/* Most input rows a product takes (8 variations with their guidance rows). */
#define MAX_ROWS 16
/* Row streams for one or two input rows: each weight row read from its start to its end (one
   sequential stream per thread), prefetched ROW_PREFETCH_BYTES ahead. On AMD Zen 4 this reads
   the weights 1.2-1.4x faster than interleaved blocks (see bf16_matvec.h). */
#ifndef ROW_PREFETCH_BYTES
#define ROW_PREFETCH_BYTES 4096
#endif

/* How far up the caches the blocks' (and the int8 groups') prefetches bring the weights: 2 = L2
   (T1). Against L1 (3) on AMD Zen 4 with 8 input rows: AVX-512 46 -> 39 ms/step, int8 33 -> 29
   (bench/step_ab.py --variations 4): the products keep more of the stream in flight. */
#ifndef BLOCK_LOCALITY
#define BLOCK_LOCALITY 2
#endif

#ifdef WEIGHTS_INT8
#include "int8_matvec.h"
#else
/* Weights read per inner iteration: one 64-byte cache line of each row. */
#define LINE 32

/* y[(m0 + m) * ldy + n0 .. n0+R) for m < MM: R weight rows (one contiguous block of memory)
   against MM input rows (x: MM rows of K bf16), fp32 accumulators. Inputs and weights are both
   read as pairs (load_pairs), so the even/odd split costs nothing. While a block is read, the
   same lines of the next block are prefetched, as in bf16_matvec.h. */
#ifndef XCONVERT
#define XCONVERT 1
#endif
#if XCONVERT
/* For 3 or more input rows each thread converts a product's inputs to fp32 once, into its
   scratch: for every 2 * VW values of a row, the even ones then the odd ones (what load_pairs
   gives), so that the blocks load them ready instead of converting every input vector again
   for every block, and keep fewer registers live. On AMD Zen 4 with AVX2
   (bench/step_ab.py --also=-DXCONVERT=0, in turns): 2, 4 and 8 variations 1.12x, 1.11x and
   1.19x faster; AVX-512F unchanged. Built with -DXCONVERT=0: converted in the blocks. */
#define MATVEC_SCRATCH_BYTES(M, K) ((size_t)(M) * (size_t)(K) * 4)
static __thread float* x_fp32;
#define MATVEC_SET_SCRATCH(p) (x_fp32 = (float*)(p))
static void convert_inputs(const uint16_t* x, int M, int K) {
    for (size_t i = 0; i < (size_t)M * K; i += 2 * VW) {
        vf lo, hi;
        load_pairs(x + i, &lo, &hi);
        vstore(x_fp32 + i, lo);
        vstore(x_fp32 + i + VW, hi);
    }
}
#define LOAD_X(m, at, lo, hi) (*(lo) = vload(x_fp32 + (size_t)(m0 + (m)) * K + (at)), \
                               *(hi) = vload(x_fp32 + (size_t)(m0 + (m)) * K + (at) + VW))
#else
#define LOAD_X(m, at, lo, hi) load_pairs(x + (size_t)(m) * K + (at), lo, hi)
#endif
/* Two loop orders over a block's weight rows (r) and input rows (m), per 2 * VW columns:
   - inputs outer (AVX2's blocks of 2 weight rows): the weight rows converted first, then each
     input vector loaded once and used for both; on AMD Zen 4 (bench/step_ab.py
     --also=-DX_OUTER_ROWS=0, in turns) 2, 4 and 8 variations 1.00-1.03x, 1.02-1.05x and 1.03x
     faster than the other order;
   - weights outer (AVX-512F's blocks of 4): each weight row converted in turn against every
     input row, the inputs read again for each (as memory operands of the multiply-adds).
   4 weight rows against 3 input rows on AVX2 (12 accumulators instead of 8) was measured too:
   4 variations 1.03-1.07x faster, 8 variations 1.02-1.03x slower; not kept. */
#ifndef X_OUTER_ROWS
#define X_OUTER_ROWS 2
#endif
#define X_OUTER(R) ((R) <= X_OUTER_ROWS)
#define BLOCK(R, MM)                                                                          \
static void block_##R##_##MM(const uint16_t* w, const uint16_t* x, void* y, int ldy, int K,     \
                             int n0, int m0, int mode) {                                        \
    (void)x;                                                                                    \
    vf acc[R][MM];                                                                              \
    for (int r = 0; r < R; r++) for (int m = 0; m < MM; m++) acc[r][m] = vsplat(0.0f);         \
    for (int k = 0; k < K; k += LINE) {                                                         \
        for (int j = 0; j < LINE; j += 2 * VW) {                                                \
            vf lo[R], hi[R];                                                                    \
            for (int r = 0; r < R; r++) {                                                       \
                const uint16_t* p = w + (size_t)(n0 + r) * K + k;                               \
                if (j == 0) __builtin_prefetch(p + (size_t)R * K, 0, BLOCK_LOCALITY);           \
                if (X_OUTER(R)) load_pairs(p + j, &lo[r], &hi[r]);                              \
            }                                                                                   \
            if (X_OUTER(R)) {                                                                   \
                for (int m = 0; m < MM; m++) {                                                  \
                    vf xlo, xhi;                                                                \
                    LOAD_X(m, k + j, &xlo, &xhi);                                               \
                    for (int r = 0; r < R; r++) {                                               \
                        acc[r][m] += lo[r] * xlo;                 /* two fused multiply-adds */ \
                        acc[r][m] += hi[r] * xhi;                                               \
                    }                                                                           \
                }                                                                               \
            } else {                                                                            \
                for (int r = 0; r < R; r++) {                                                   \
                    load_pairs(w + (size_t)(n0 + r) * K + k + j, &lo[r], &hi[r]);               \
                    for (int m = 0; m < MM; m++) {                                              \
                        vf xlo, xhi;                                                            \
                        LOAD_X(m, k + j, &xlo, &xhi);                                           \
                        acc[r][m] += lo[r] * xlo;                                               \
                        acc[r][m] += hi[r] * xhi;                                               \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
    float s[MM * R];                                                                            \
    for (int m = 0; m < MM; m++) for (int r = 0; r < R; r++) s[m * R + r] = vsum(acc[r][m]);   \
    store_rows(mode, y, ldy, n0, m0, MM, R, s);                                                 \
}
#if VW == 8
/* 16 ymm registers: 8 accumulators at most */
BLOCK(2, 1)
BLOCK(2, 2)
BLOCK(2, 3)
BLOCK(2, 4)
#define ROWS_FEW 4
#define ROWS_MANY 2
#else
/* 32 zmm registers: 16 accumulators at most */
BLOCK(4, 1)
BLOCK(4, 2)
BLOCK(4, 3)
BLOCK(4, 4)
#define ROWS_FEW 8
#define ROWS_MANY 4
#endif

static inline int block_rows(int M) { return M <= 2 ? ROWS_FEW : ROWS_MANY; }

/* The row streams: 64 bf16 (two cache lines) per iteration, NA accumulators per input row. */
#define NA (64 / (2 * VW))
#define ROW_DOT(MM)                                                                           \
static inline void row_dot_##MM(const uint16_t* p, const uint16_t* x, int K, float* s) {      \
    vf acc[MM][NA];                                                                           \
    for (int m = 0; m < MM; m++) for (int j = 0; j < NA; j++) acc[m][j] = vsplat(0.0f);       \
    int k = 0;                                                                                \
    for (; k + 64 <= K; k += 64) {                                                            \
        __builtin_prefetch((const char*)(p + k) + ROW_PREFETCH_BYTES, 0, 3);                  \
        __builtin_prefetch((const char*)(p + k) + ROW_PREFETCH_BYTES + 64, 0, 3);             \
        for (int j = 0; j < NA; j++) {                                                        \
            vf lo, hi;                                                                        \
            load_pairs(p + k + 2 * VW * j, &lo, &hi);                                         \
            for (int m = 0; m < MM; m++) {                                                    \
                vf xlo, xhi;                                                                  \
                load_pairs(x + (size_t)m * K + k + 2 * VW * j, &xlo, &xhi);                   \
                acc[m][j] += lo * xlo;                                                        \
                acc[m][j] += hi * xhi;                                                        \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
    for (; k < K; k += 2 * VW) {                          /* K % 64 == 32: the last 32 */     \
        vf lo, hi;                                                                            \
        load_pairs(p + k, &lo, &hi);                                                          \
        for (int m = 0; m < MM; m++) {                                                        \
            vf xlo, xhi;                                                                      \
            load_pairs(x + (size_t)m * K + k, &xlo, &xhi);                                    \
            acc[m][0] += lo * xlo;                                                            \
            acc[m][0] += hi * xhi;                                                            \
        }                                                                                     \
    }                                                                                         \
    for (int m = 0; m < MM; m++) {                                                            \
        vf t = acc[m][0];                                                                     \
        for (int j = 1; j < NA; j++) t += acc[m][j];                                          \
        s[m] = vsum(t);                                                                       \
    }                                                                                         \
}
ROW_DOT(1)
ROW_DOT(2)

/* R weight rows from n0, streamed one after the other, against M (1 or 2) input rows. */
static void row_block(const uint16_t* w, const uint16_t* x, void* y, int ldy, int M, int K, int n0, int R,
                      int mode) {
    float s[2 * 16], t[2];
    for (int r = 0; r < R; r++) {
        const uint16_t* p = w + (size_t)(n0 + r) * K;
        if (M == 1) row_dot_1(p, x, K, t);
        else row_dot_2(p, x, K, t);
        for (int m = 0; m < M; m++) s[m * R + r] = t[m];
    }
    store_rows(mode, y, ldy, n0, 0, M, R, s);
}

#define CALL_BLOCK(R, MM) block_##R##_##MM
#define BLOCK_FN(R, MM) CALL_BLOCK(R, MM)

/* One block of block_rows(M) weight rows against all M input rows: row streams for one or two;
   beyond that, groups of 4 take turns on the same weight rows (in the L1 cache after the first
   group). */
static inline void block(const uint16_t* w, const uint16_t* x, void* y, int ldy, int M, int K, int n0, int mode) {
    if (M <= 2) {
        row_block(w, x, y, ldy, M, K, n0, ROWS_FEW, mode);
        return;
    }
    for (int m0 = 0; m0 < M; m0 += 4) {
        const uint16_t* xm = x + (size_t)m0 * K;
        switch (M - m0 < 4 ? M - m0 : 4) {
            case 1: BLOCK_FN(ROWS_MANY, 1)(w, xm, y, ldy, K, n0, m0, mode); break;
            case 2: BLOCK_FN(ROWS_MANY, 2)(w, xm, y, ldy, K, n0, m0, mode); break;
            case 3: BLOCK_FN(ROWS_MANY, 3)(w, xm, y, ldy, K, n0, m0, mode); break;
            default: BLOCK_FN(ROWS_MANY, 4)(w, xm, y, ldy, K, n0, m0, mode); break;
        }
    }
}

/* Weight rows per unit of matvec's static schedule, and where weight row n starts. */
static inline int matvec_rows(int M) { return block_rows(M); }
static inline const char* matvec_row_address(const void* w, int N, int K, size_t n) {
    (void)N;
    return (const char*)w + n * (size_t)K * 2;
}

/* This thread's share of y (M rows, leading dimension ldy) = x (M, K) @ w (N, K)^T, inside a
   parallel region; no barrier at the end. */
static void matvec(const uint16_t* w, const uint16_t* x, void* y, int ldy, int M, int N, int K, int mode) {
    const int R = block_rows(M), blocks = N / R;
#if XCONVERT
    if (M > 2) convert_inputs(x, M, K);
#endif
    #pragma omp for schedule(static) nowait
    for (int b = 0; b < blocks; b++) block(w, x, y, ldy, M, K, b * R, mode);
}

#endif  /* WEIGHTS_INT8 */

#endif
