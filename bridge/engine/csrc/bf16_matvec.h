/* bf16 matrix-vector products for CPUs with AVX512-BF16: a few input rows (the conditional and
   guidance rows of a decoding step) against a weight matrix in nn.Linear's (out, in) layout,
   read once, in place. Shared by linear_bf16.c (one product per call) and decoder_step_bf16.c
   (a whole decoding step per call). Everything here is static: each .c file gets its own copy. */
#ifndef BF16_MATVEC_H
#define BF16_MATVEC_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bf16_scalar.h"

/* 16 bf16 values (any alignment) as fp32 lanes. */
static inline __m512 load16_bf16(const uint16_t* p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16));
}

/* e^x per lane (Cody-Waite reduction, degree-7 polynomial, relative error ~1e-7); exactly 0
   below -87 (masked positions come in as -inf). */
static inline __m512 exp16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.0f);
    __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_mov_ps(keep, _mm512_scalef_ps(p, n));
}

/* Exact (erf) GELU per lane, x * (1 + erf(x / sqrt 2)) / 2, as torch's default gelu; erf from
   Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, far below bf16's resolution). */
static inline __m512 gelu16(__m512 x) {
    __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
    __m512 a = _mm512_abs_ps(z);
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    __m512 e = _mm512_sub_ps(_mm512_set1_ps(1.0f),
                             _mm512_mul_ps(p, exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(a, a)))));
    __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
    e = _mm512_mask_sub_ps(e, neg, _mm512_setzero_ps(), e);          /* erf is odd */
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

/* Lane i of the result = the sum of the 16 lanes of a[i] (a 16x16 transpose-and-add). */
static inline __m512 sum16x16(const __m512* a) {
    __m512 x[8], z[4], u[2];
    for (int i = 0; i < 8; i++)       /* per 128-bit lane: [a 0+2, b 0+2, a 1+3, b 1+3] */
        x[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    for (int i = 0; i < 4; i++)       /* per 128-bit lane: the lane's sums of a, b, c, d */
        z[i] = _mm512_add_ps(_mm512_shuffle_ps(x[2 * i], x[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(x[2 * i], x[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int i = 0; i < 2; i++)       /* add 128-bit lanes 0+2 and 1+3 */
        u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(z[2 * i], z[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_f32x4(z[2 * i], z[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* 16 fp32 lanes rounded to bf16 as to_bf16 does (nearest even; NaN stays NaN), as 16 uint16. */
static inline __m256i to_bf16_16(__m512 v) {
    const __m512i u = _mm512_castps_si512(v);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
    r = _mm512_mask_or_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(r);
}

/* 16 bf16 values as fp32 lanes. */
static inline __m512 bf16_16_to_f32(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Built with -DSCALAR_STORES, the step rounds one value at a time (to_bf16, as torch does) in
   the stores, layer norms and attention outputs: the reference that tests compare the vector
   rounding with, bit for bit (tests/test_cpu_paths.py). */
#ifdef SCALAR_STORES
static inline void store(int mode, void* y, size_t at, const float* s, int R) {
    if (mode == STORE_F32) {
        float* yf = (float*)y + at;
        for (int r = 0; r < R; r++) yf[r] = from_bf16(to_bf16(s[r]));
        return;
    }
    uint16_t* yb = (uint16_t*)y + at;
    if (mode == STORE_ADD) {
        for (int r = 0; r < R; r++) yb[r] = to_bf16(from_bf16(yb[r]) + from_bf16(to_bf16(s[r])));
    } else if (mode == STORE_GELU) {
        float t[16];
        for (int r = 0; r < R; r++) t[r] = from_bf16(to_bf16(s[r]));
        __mmask16 m = (__mmask16)((1u << R) - 1u);
        _mm512_mask_storeu_ps(t, m, gelu16(_mm512_maskz_loadu_ps(m, t)));
        for (int r = 0; r < R; r++) yb[r] = to_bf16(t[r]);
    } else {
        for (int r = 0; r < R; r++) yb[r] = to_bf16(s[r]);
    }
}
#else
/* R (at most 16) sums s stored at y + at as mode says, 16 lanes at once. */
static inline void store(int mode, void* y, size_t at, const float* s, int R) {
    const __mmask16 m = (__mmask16)((1u << R) - 1u);
    const __m256i rounded = to_bf16_16(_mm512_maskz_loadu_ps(m, s));
    if (mode == STORE_F32) {
        _mm512_mask_storeu_ps((float*)y + at, m, bf16_16_to_f32(rounded));
        return;
    }
    uint16_t* yb = (uint16_t*)y + at;
    __m256i out = rounded;
    if (mode == STORE_ADD)
        out = to_bf16_16(_mm512_add_ps(bf16_16_to_f32(_mm256_maskz_loadu_epi16(m, yb)), bf16_16_to_f32(rounded)));
    else if (mode == STORE_GELU)
        out = to_bf16_16(gelu16(bf16_16_to_f32(rounded)));
    _mm256_mask_storeu_epi16(yb, m, out);
}
#endif

/* Software prefetch in the vector blocks: by default the same line of the next block (one
   block ahead); built with -DBF16_PREFETCH_BYTES=N, N bytes ahead in the same row instead;
   with -DBF16_PREFETCH_BYTES=0, none (the hardware prefetchers alone). */
/* Row streams (below) or not: see there. Built with -DBF16_ROW_STREAMS=0 on Intel. */
#ifndef BF16_ROW_STREAMS
#define BF16_ROW_STREAMS 1
#endif
/* The blocks' prefetch: into L1 as measured on Intel; into L2 where row streams are used (AMD
   Zen 4: 12 input rows read the weights at 23.6 against 17 GB/s, 16 rows about the same). */
#ifndef BLOCK_HINT
#if BF16_ROW_STREAMS
#define BLOCK_HINT _MM_HINT_T1
#else
#define BLOCK_HINT _MM_HINT_T0
#endif
#endif
#ifndef BF16_PREFETCH_BYTES
#define PREFETCH_NEXT(p, R, K) _mm_prefetch((const char*)((p) + (size_t)(R) * (K)), BLOCK_HINT)
#elif BF16_PREFETCH_BYTES == 0
#define PREFETCH_NEXT(p, R, K) ((void)0)
#else
#define PREFETCH_NEXT(p, R, K) _mm_prefetch((const char*)(p) + BF16_PREFETCH_BYTES, _MM_HINT_T0)
#endif

/* y[(m0 + m) * ldy + n0 .. n0+R) for m < MM: R weight rows against MM input rows (x: MM rows
   of K), fp32 accumulators. The R rows are one contiguous block of memory; while it is read, the
   same lines of the next block are prefetched (a block ahead: about 90% of the copy bandwidth on
   the machines measured, against about 75% for a fixed distance ahead in each row). */
#define BLOCK(R, MM)                                                                        \
static void block_##R##_##MM(const uint16_t* w, const uint16_t* x, void* y, int ldy, int K,   \
                             int n0, int m0, int mode) {                                      \
    __m512 acc[R][MM];                                                                        \
    for (int r = 0; r < R; r++) for (int m = 0; m < MM; m++) acc[r][m] = _mm512_setzero_ps(); \
    for (int k = 0; k < K; k += 32) {                                                         \
        __m512bh xv[MM];                                                                      \
        for (int m = 0; m < MM; m++)                                                          \
            xv[m] = (__m512bh)_mm512_loadu_si512((const void*)(x + (size_t)m * K + k));       \
        for (int r = 0; r < R; r++) {                                                         \
            const uint16_t* p = w + (size_t)(n0 + r) * K + k;                                 \
            PREFETCH_NEXT(p, R, K);                                                           \
            __m512bh wv = (__m512bh)_mm512_loadu_si512((const void*)p);                      \
            for (int m = 0; m < MM; m++) acc[r][m] = _mm512_dpbf16_ps(acc[r][m], wv, xv[m]);  \
        }                                                                                     \
    }                                                                                         \
    for (int m = 0; m < MM; m++) {                                                            \
        float s[R];                                                                           \
        for (int r = 0; r < R; r++) s[r] = _mm512_reduce_add_ps(acc[r][m]);                   \
        store(mode, y, (size_t)(m0 + m) * ldy + n0, s, R);                                    \
    }                                                                                         \
}
BLOCK(16, 1)
BLOCK(16, 2)
BLOCK(4, 1)
BLOCK(4, 2)
BLOCK(4, 3)
BLOCK(4, 4)

/* Row streams (built with -DBF16_ROW_STREAMS=1, the default): for 1 to ROW_STREAM_MAX_ROWS
   input rows, the weight rows of a block are read one after the other, each from its start to
   its end, so that each thread reads its share of a matrix as one sequential stream,
   prefetched ROW_PREFETCH_BYTES ahead. On AMD Zen 4 this reads the weights at 1.2-1.4x the
   rate of the interleaved blocks above for 1, 2 and 4 input rows (bench/matvec_prefetch.py),
   at or above the copy bandwidth; on Intel Sapphire Rapids the interleaved blocks were
   measured at 1.07-1.15x the floor and are kept there (cpu_kernels.row_streams). Two
   accumulators per input row hide the products' latency for one or two rows. */
#ifndef ROW_PREFETCH_BYTES
#define ROW_PREFETCH_BYTES 4096
#endif
#ifndef ROW_HINT
#define ROW_HINT _MM_HINT_T0
#endif
#define ROW_DOT(MM)                                                                           \
static inline void row_dot_##MM(const uint16_t* p, const uint16_t* x, int K, float* s) {      \
    __m512 a0[MM], a1[MM];                                                                    \
    for (int m = 0; m < MM; m++) a0[m] = a1[m] = _mm512_setzero_ps();                         \
    int k = 0;                                                                                \
    for (; k + 64 <= K; k += 64) {                                                            \
        _mm_prefetch((const char*)(p + k) + ROW_PREFETCH_BYTES, ROW_HINT);                     \
        _mm_prefetch((const char*)(p + k) + ROW_PREFETCH_BYTES + 64, ROW_HINT);                \
        __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void*)(p + k));                     \
        __m512bh w1 = (__m512bh)_mm512_loadu_si512((const void*)(p + k + 32));                \
        for (int m = 0; m < MM; m++) {                                                        \
            const uint16_t* xm = x + (size_t)m * K + k;                                       \
            a0[m] = _mm512_dpbf16_ps(a0[m], w0, (__m512bh)_mm512_loadu_si512((const void*)xm)); \
            a1[m] = _mm512_dpbf16_ps(a1[m], w1, (__m512bh)_mm512_loadu_si512((const void*)(xm + 32))); \
        }                                                                                     \
    }                                                                                         \
    if (k < K) {                                          /* K % 64 == 32: the last 32 */     \
        __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void*)(p + k));                     \
        for (int m = 0; m < MM; m++)                                                          \
            a0[m] = _mm512_dpbf16_ps(a0[m], w0, (__m512bh)_mm512_loadu_si512((const void*)(x + (size_t)m * K + k))); \
    }                                                                                         \
    for (int m = 0; m < MM; m++) s[m] = _mm512_reduce_add_ps(_mm512_add_ps(a0[m], a1[m]));    \
}
ROW_DOT(1)
ROW_DOT(2)

/* The same for 4 or 8 input rows (variations): one accumulator per input row is enough to
   hide the latency; the products are then bound by their own rate, and prefetching into the
   L2 cache (T1) kept more of the stream in flight than into L1 (22-23 against 18-19 GB/s for
   8 rows on Zen 4). */
#ifndef ROW_MANY_HINT
#define ROW_MANY_HINT _MM_HINT_T1
#endif
#define ROW_DOT_MANY(MM)                                                                      \
static inline void row_dot_##MM(const uint16_t* p, const uint16_t* x, int K, float* s) {      \
    __m512 a[MM];                                                                             \
    for (int m = 0; m < MM; m++) a[m] = _mm512_setzero_ps();                                  \
    for (int k = 0; k < K; k += 32) {                                                         \
        _mm_prefetch((const char*)(p + k) + ROW_PREFETCH_BYTES, ROW_MANY_HINT);                   \
        const __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void*)(p + k));              \
        for (int m = 0; m < MM; m++)                                                          \
            a[m] = _mm512_dpbf16_ps(a[m], w0, (__m512bh)_mm512_loadu_si512((const void*)(x + (size_t)m * K + k))); \
    }                                                                                         \
    for (int m = 0; m < MM; m++) s[m] = _mm512_reduce_add_ps(a[m]);                          \
}
ROW_DOT_MANY(4)
ROW_DOT_MANY(8)

/* Most input rows row streams take: beyond, the interleaved blocks were faster on Zen 4 (16
   rows: 16.1 against 11.4 GB/s), their 4 weight rows shared by each input load. */
#ifndef ROW_STREAM_MAX_ROWS
#define ROW_STREAM_MAX_ROWS 8
#endif

/* How many of the `left` input rows still to do the next group takes (8, 4, 2 or 1): the row
   streams and the packed blocks take the input rows in such groups. */
static inline int input_group(int left) { return left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1; }

/* R weight rows from n0, streamed one after the other, against M (1 to ROW_STREAM_MAX_ROWS)
   input rows: groups of 8, 4, 2 and 1 input rows take turns on each weight row (in the L1
   cache after the first). */
static void row_block(const uint16_t* w, const uint16_t* x, void* y, int ldy, int M, int K, int n0, int R,
                      int mode) {
    float s[ROW_STREAM_MAX_ROWS][16], t[ROW_STREAM_MAX_ROWS];
    for (int r = 0; r < R; r++) {
        const uint16_t* p = w + (size_t)(n0 + r) * K;
        for (int m0 = 0; m0 < M;) {
            const uint16_t* xm = x + (size_t)m0 * K;
            const int mm = input_group(M - m0);
            switch (mm) {
                case 8: row_dot_8(p, xm, K, t); break;
                case 4: row_dot_4(p, xm, K, t); break;
                case 2: row_dot_2(p, xm, K, t); break;
                default: row_dot_1(p, xm, K, t); break;
            }
            for (int m = 0; m < mm; m++) s[m0 + m][r] = t[m];
            m0 += mm;
        }
    }
    for (int m = 0; m < M; m++) store(mode, y, (size_t)m * ldy + n0, s[m], R);
}

/* Most input rows a product takes (8 variations with their guidance rows). */
#define MAX_ROWS 16

/* Rows of weights per block for M input rows. */
static inline int block_rows(int M) { return M <= 2 ? 16 : 4; }

/* One block of block_rows(M) weight rows against all M input rows. Beyond 4 input rows, groups
   of 4 take turns on the same weight rows, which stay in the L1 cache after the first group:
   the weights are still read from memory once. */
static inline void block(const uint16_t* w, const uint16_t* x, void* y, int ldy, int M, int K, int n0, int mode) {
    if (BF16_ROW_STREAMS && M <= ROW_STREAM_MAX_ROWS) {
        row_block(w, x, y, ldy, M, K, n0, block_rows(M), mode);
        return;
    }
    switch (M) {
        case 1: block_16_1(w, x, y, ldy, K, n0, 0, mode); return;
        case 2: block_16_2(w, x, y, ldy, K, n0, 0, mode); return;
        default: break;
    }
    for (int m0 = 0; m0 < M; m0 += 4) {
        const uint16_t* xm = x + (size_t)m0 * K;
        switch (M - m0 < 4 ? M - m0 : 4) {
            case 1: block_4_1(w, xm, y, ldy, K, n0, m0, mode); break;
            case 2: block_4_2(w, xm, y, ldy, K, n0, m0, mode); break;
            case 3: block_4_3(w, xm, y, ldy, K, n0, m0, mode); break;
            default: block_4_4(w, xm, y, ldy, K, n0, m0, mode); break;
        }
    }
}

#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
/* With AMX (built with -mamx-tile -mamx-bf16; see bf16_amx_enable in linear_bf16.c), products
   of AMX_MIN_ROWS to 16 input rows use tile multiplies: 16 weight rows x 32 inputs (one tile, loaded from
   the weights in place) against the inputs packed in pairs (a second tile), accumulated in a
   16 x 16 fp32 tile. The vector blocks above are bound by their multiply rate beyond 2 rows;
   the tiles are bound by the weight reads at any row count. */
#define BF16_HAVE_AMX 1
/* From this many rows on, tiles beat the vector blocks. Measured on 0.63 GB of weights: 1-2
   rows 25 ms either way; 3-4 rows 28.5-29.4 ms vector, 27.3-27.7 tiles; 8 rows 41.5 against
   27.9; 16 rows 67.7 against 28.6. */
#define AMX_MIN_ROWS 3
extern int bf16_amx_state;   /* 1: this process may use AMX and it is not turned off */

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) tile_config;

static inline int use_amx(int M) { return M >= AMX_MIN_ROWS && bf16_amx_state == 1; }

/* x (M rows of K) -> this thread's buffer of K/2 rows of 16 input pairs (rows past M are 0). */
static const uint32_t* pack_pairs(const uint16_t* x, int M, int K) {
    static __thread uint32_t* buf;
    static __thread size_t cap;
    const size_t need = (size_t)K / 2 * 16;
    if (need > cap) {
        free(buf);
        buf = (uint32_t*)aligned_alloc(64, need * 4);
        cap = buf ? need : 0;
        if (!buf) return NULL;
    }
    /* a transpose of M rows of K/2 pairs: one masked gather per output row */
    const __m512i index = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                             _mm512_set1_epi32(K / 2));
    const __mmask16 rows = (__mmask16)((1u << M) - 1u);
    for (int kk = 0; kk < K / 2; kk++)
        _mm512_store_si512((void*)(buf + (size_t)kk * 16),
                           _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), rows, index,
                                                       (const void*)(x + (size_t)kk * 2), 4));
    return buf;
}

/* 16 weight rows from n0 against the packed inputs. No software prefetch: the hardware
   prefetchers follow the 16 row streams, and prefetch instructions here cost more than they
   gained (33 against 29 ms for 0.63 GB with 8 rows). */
static void amx_block(const uint16_t* w, const uint32_t* xv, void* y, int ldy, int M, int K, int n0, int mode) {
    const uint16_t* wb = w + (size_t)n0 * K;
    _tile_zero(0);
    for (int k = 0; k < K; k += 32) {
        _tile_loadd(1, wb + k, K * 2);
        _tile_loadd(2, xv + (size_t)k / 2 * 16, 64);
        _tile_dpbf16ps(0, 1, 2);
    }
    float c[16][16];
    _tile_stored(0, c, 64);
    for (int m = 0; m < M; m++) {
        float s[16];
        for (int i = 0; i < 16; i++) s[i] = c[i][m];
        store(mode, y, (size_t)m * ldy + n0, s, 16);
    }
}

/* This thread's share of a product of M (AMX_MIN_ROWS..16) rows, inside a parallel region; no barrier.
   Should the packing buffer not be had, this thread's blocks use the vector blocks instead. */
static void amx_matvec(const uint16_t* w, const uint16_t* x, void* y, int ldy, int M, int N, int K, int mode) {
    const uint32_t* xv = pack_pairs(x, M, K);
    if (xv) {
        tile_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.palette = 1;
        for (int t = 0; t < 3; t++) { cfg.colsb[t] = 64; cfg.rows[t] = 16; }
        _tile_loadconfig(&cfg);
    }
    #pragma omp for schedule(static) nowait
    for (int b = 0; b < N / 16; b++) {
        if (xv) amx_block(w, xv, y, ldy, M, K, b * 16, mode);
        else for (int r = 0; r < 16; r += block_rows(M)) block(w, x, y, ldy, M, K, b * 16 + r, mode);
    }
    if (xv) _tile_release();
}
#else
static inline int use_amx(int M) { (void)M; return 0; }
static inline void amx_matvec(const uint16_t* w, const uint16_t* x, void* y, int ldy, int M, int N, int K, int mode) {
    (void)w; (void)x; (void)y; (void)ldy; (void)M; (void)N; (void)K; (void)mode;
}
#endif

#if BF16_PACKED
#include "bf16_packed.h"
#else
/* Weight rows per unit of matvec's static schedule, and where weight row n starts. */
static inline int matvec_rows(int M) { return use_amx(M) ? 16 : block_rows(M); }
static inline const char* matvec_row_address(const void* w, int N, int K, size_t n) {
    (void)N;
    return (const char*)w + n * (size_t)K * 2;
}

/* This thread's share of y (M rows, leading dimension ldy) = x (M, K) @ w (N, K)^T, inside a
   parallel region; no barrier at the end. */
static void matvec(const uint16_t* w, const uint16_t* x, void* y, int ldy, int M, int N, int K, int mode) {
    if (use_amx(M)) {
        amx_matvec(w, x, y, ldy, M, N, K, mode);
        return;
    }
    const int R = block_rows(M), blocks = N / R;
    #pragma omp for schedule(static) nowait
    for (int b = 0; b < blocks; b++) block(w, x, y, ldy, M, K, b * R, mode);
}

#endif  /* BF16_PACKED */

#endif
