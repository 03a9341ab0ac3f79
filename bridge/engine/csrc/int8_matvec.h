/* Opt-in int8 weights (fp32_vec.h built with -DWEIGHTS_INT8): integer products on int8 weights
   and quantized inputs, for the same step as the bf16 weights (decoder_step_f32.c).

   A weight matrix of N rows (N a multiple of 4) is N fp32 scales (one per output row,
   symmetric: the row's largest magnitude over 127), then its rows in groups of 4, each group
   stored line by line: the first 64 values of its 4 rows, then the next 64 of each, and so on,
   rows zero-padded to KP(K), a multiple of 64 (cpu_step.quantize_int8 packs them once). A
   group is one sequential stream of memory, and each input vector loaded serves 4 weight rows:
   4 rows side by side in their plain layout read at about 60% of the rate of one stream on
   AMD Zen 4, and one row at a time costs an input load per weight load.

   The input rows (bf16) are quantized once per product and thread to int16 with one scale per
   row (|x| <= 32767, less for long rows, so that no int32 lane can overflow): the inputs lose
   less than bf16 already did, and the error is the weights' rounding. The weights are widened
   to int16 and multiplied with vpmaddwd + vpaddd (AVX2, or AVX-512BW), or with vpdpwssd (the
   same sums in one instruction) where the CPU has AVX512-VNNI (cpu_kernels builds with
   -mavx512vnni there), 64 weights per row and step; the int32 sums of each row are scaled to
   fp32 at the end: sum * weight scale * input scale. Measured on AMD Zen 4
   (bench/step_ab.py): vpdpwssd is no faster for one clip (2 rows: the weight reads bound it)
   and 1.16x faster for 4 variations (8 rows: the multiplies bound it); two int8 digits per
   input with vpdpbusd (64 products per instruction, no widening) were slower (1.61x the bf16
   step against 1.75-1.81x).

   Why by hand: the step reads the weights once, in place, with the quantization of the inputs
   and the bf16 rounding of torch's step in between; no library does a whole step. */
#ifndef INT8_MATVEC_H
#define INT8_MATVEC_H

#include <immintrin.h>

#define KP(K) (((K) + 63) & ~63)       /* a row's length in the packed weights and the scratch */
#define GROUP 4                        /* weight rows per packed group */

/* Inputs as int16 (scratch: rows of KP(K) int16, zero past K); products with vpmaddwd. */
#if VW == 16
#define QW 32                                                         /* int16 lanes per vector */
typedef __m512i vq;
static inline vq widen(const int8_t* p) { return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i*)p)); }
static inline vq qload(const int16_t* p) { return _mm512_loadu_si512((const void*)p); }
static inline vq qzero(void) { return _mm512_setzero_si512(); }
#ifdef __AVX512VNNI__
static inline vq qdot(vq acc, vq a, vq b) { return _mm512_dpwssd_epi32(acc, a, b); }
#else
static inline vq qdot(vq acc, vq a, vq b) { return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b)); }
#endif
static inline float qsum(vq a) { return _mm512_reduce_add_ps(_mm512_cvtepi32_ps(a)); }
/* VW fp32 values rounded to nearest and stored as int16 */
static inline void store_q(int16_t* q, vf v) {
    __m512 f; memcpy(&f, &v, sizeof f);
    _mm256_storeu_si256((__m256i*)q, _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(f)));
}
#else
#define QW 16
typedef __m256i vq;
static inline vq widen(const int8_t* p) { return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)p)); }
static inline vq qload(const int16_t* p) { return _mm256_loadu_si256((const __m256i*)p); }
static inline vq qzero(void) { return _mm256_setzero_si256(); }
static inline vq qdot(vq acc, vq a, vq b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
static inline float qsum(vq a) {                 /* in fp32: a row's sum could overflow int32 */
    __m256 s = _mm256_cvtepi32_ps(a);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}
static inline void store_q(int16_t* q, vf v) {
    __m256 f; memcpy(&f, &v, sizeof f);
    __m256i i = _mm256_cvtps_epi32(f);
    _mm_storeu_si128((__m128i*)q, _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1)));
}
#endif
#define NQ (64 / QW)                                      /* widened vectors per 64 weights */

/* The largest input magnitude A for K inputs: each int32 lane of an accumulator adds 2 NQ
   products per 64 inputs, each at most A * 127. */
static inline float input_limit(int K) {
    const double lane_products = (double)KP(K) / 64 * 2 * NQ;
    const double a = 2147483647.0 / (127.0 * lane_products);
    return a < 32767.0 ? (float)(int)a : 32767.0f;
}

/* x (M rows of K bf16) -> scratch (M rows of KP(K) int16) and one fp32 scale per row (0 for a
   zero row). */
static void quantize_rows(const uint16_t* x, int M, int K, int16_t* scratch, float* scales) {
    const float limit = input_limit(K);
    const int kp = KP(K);
    for (int m = 0; m < M; m++) {
        const uint16_t* xm = x + (size_t)m * K;
        int16_t* q = scratch + (size_t)m * kp;
        vf mx = vsplat(0.0f);
        for (int i = 0; i < K; i += VW) {
            vf a = (vf)((vi)load_bf16(xm + i) & 0x7fffffff);
            mx = vselect(a > mx, a, mx);
        }
        float top = 0.0f;
        for (int i = 0; i < VW; i++) top = mx[i] > top ? mx[i] : top;
        const float inv = top > 0.0f && isfinite(top) ? limit / top : 0.0f;
        scales[m] = inv > 0.0f ? top / limit : 0.0f;
        for (int i = 0; i < K; i += VW) store_q(q + i, load_bf16(xm + i) * inv);
        for (int i = K; i < kp; i++) q[i] = 0;
    }
}

/* s[r][m] = the integer dot products (as fp32) of one packed group g (GROUP rows of kp) with
   MM (1, 2 or 4) input rows of the scratch q. */
#define GROUP_DOT(MM)                                                                         \
static inline void group_dot_##MM(const int8_t* g, const int16_t* q, int K, int prefetch, float (*s)[4]) { \
    const int kp = KP(K);                                                                     \
    vq acc[GROUP][MM];                                                                        \
    for (int r = 0; r < GROUP; r++) for (int m = 0; m < MM; m++) acc[r][m] = qzero();         \
    for (int k = 0; k < kp; k += 64, g += 64 * GROUP) {                                       \
        if (prefetch)                                                                         \
            for (int b = 0; b < 64 * GROUP; b += 64)                                          \
                __builtin_prefetch((const char*)g + ROW_PREFETCH_BYTES + b, 0, BLOCK_LOCALITY); \
        for (int j = 0; j < NQ; j++) {                                                        \
            vq w[GROUP];                                                                      \
            for (int r = 0; r < GROUP; r++) w[r] = widen(g + 64 * r + QW * j);                \
            for (int m = 0; m < MM; m++) {                                                    \
                const vq x = qload(q + (size_t)m * kp + k + QW * j);                         \
                for (int r = 0; r < GROUP; r++) acc[r][m] = qdot(acc[r][m], w[r], x);         \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
    for (int r = 0; r < GROUP; r++) for (int m = 0; m < MM; m++) s[r][m] = qsum(acc[r][m]);  \
}

GROUP_DOT(1)
GROUP_DOT(2)
/* Four input rows at once where 16 accumulators, 4 weight vectors and an input fit in the 32
   vector registers (AVX-512; AVX2 has 16, and takes two). */
#if VW == 16
#define QMAX_INPUTS 4
GROUP_DOT(4)
#else
#define QMAX_INPUTS 2
static inline void group_dot_4(const int8_t* g, const int16_t* q, int K, int prefetch, float (*s)[4]) {
    (void)g; (void)q; (void)K; (void)prefetch; (void)s;
}
#endif

/* Weight rows per block (the unit the threads share out). */
#define QROWS 16

/* QROWS weight rows from n0 (QROWS / GROUP packed groups) against all M quantized input rows,
   four input rows at a time with AVX-512 (then two, then one): each group is read once from memory, and
   again from the L1 cache for every further group of input rows. */
static void qblock(const int8_t* w, const float* wscale, const int16_t* q, const float* xscale, void* y, int ldy,
                   int M, int K, int n0, int mode) {
    float s[MAX_ROWS][QROWS], t[GROUP][4];
    for (int r0 = 0; r0 < QROWS; r0 += GROUP) {
        const int8_t* g = w + (size_t)(n0 + r0) * KP(K);
        for (int m0 = 0; m0 < M;) {
            const int16_t* qm = q + (size_t)m0 * KP(K);
            const int mm = M - m0 >= 4 && QMAX_INPUTS == 4 ? 4 : M - m0 >= 2 ? 2 : 1;
            if (mm == 4) group_dot_4(g, qm, K, m0 == 0, t);
            else if (mm == 2) group_dot_2(g, qm, K, m0 == 0, t);
            else group_dot_1(g, qm, K, m0 == 0, t);
            for (int r = 0; r < GROUP; r++)
                for (int m = m0; m < m0 + mm; m++) s[m][r0 + r] = t[r][m - m0] * wscale[n0 + r0 + r] * xscale[m];
            m0 += mm;
        }
    }
    for (int m = 0; m < M; m++) store(mode, y, (size_t)m * ldy + n0, s[m], QROWS);
}

/* Scratch each thread needs for M quantized input rows of at most K values (decoder_step_body.h
   gives it from the step's memory and sets it per thread). */
#define MATVEC_SCRATCH_BYTES(M, K) ((size_t)(M) * (size_t)KP(K) * 2)
static __thread int16_t* q_inputs;
#define MATVEC_SET_SCRATCH(p) (q_inputs = (int16_t*)(p))

/* Weight rows per unit of matvec's static schedule, and where weight row n (a multiple of
   GROUP) starts: after the N scales, n / GROUP groups of GROUP * KP(K) bytes. */
static inline int matvec_rows(int M) { (void)M; return QROWS; }
static inline const char* matvec_row_address(const void* w, int N, int K, size_t n) {
    return (const char*)w + (size_t)N * 4 + n * (size_t)KP(K);
}

/* This thread's share of y (M rows, leading dimension ldy) = x (M, K) @ w (N, K)^T, w an int8
   matrix (scales, then packed groups); inside a parallel region, no barrier at the end. Every
   thread quantizes the inputs itself (a few thousand values: cheaper than a barrier). */
static void matvec(const uint16_t* w16, const uint16_t* x, void* y, int ldy, int M, int N, int K, int mode) {
    const float* wscale = (const float*)w16;
    const int8_t* w = (const int8_t*)(wscale + N);
    float xscale[MAX_ROWS];
    quantize_rows(x, M, K, q_inputs, xscale);
    #pragma omp for schedule(static) nowait
    for (int b = 0; b < N / QROWS; b++) qblock(w, wscale, q_inputs, xscale, y, ldy, M, K, b * QROWS, mode);
}

#endif
