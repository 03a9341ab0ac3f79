/* Opt-in int8 weights (fp32_vec.h built with -DWEIGHTS_INT8): integer products on int8 weights
   and int16 inputs, for the same step as the bf16 weights (decoder_step_f32.c).

   A weight matrix of N rows is N fp32 scales (one per output row, symmetric: the row's largest
   magnitude over 127) followed by the N rows of K int8 values (cpu_step.quantize_int8). The
   input rows (bf16) are quantized once per product and thread to int16 with one scale per row
   (the row's largest magnitude over A, A as large as the int32 sums allow: 32767 up to K =
   8192), so the inputs lose far less than bf16 already did and the error is the weights'
   rounding. Each weight row is read from its start to its end (one sequential stream per
   thread, as the row streams of fp32_vec.h), 64 weights (one cache line) per iteration,
   widened to int16 and multiplied with vpdpwssd (AVX512-VNNI: 32 products per instruction),
   or vpmaddwd + vpaddd (AVX-512BW without VNNI, AVX2). The int32 sums of each row are scaled
   to fp32 at the end: sum * weight scale * input scale.

   Why by hand: the step reads the weights once, in place, with the quantization of the inputs
   and the bf16 rounding of torch's step in between; no library does a whole step. */
#ifndef INT8_MATVEC_H
#define INT8_MATVEC_H

#include <immintrin.h>

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
static inline float qsum(vq a, vq b) {          /* in fp32: the two int32 sums could overflow */
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_cvtepi32_ps(a), _mm512_cvtepi32_ps(b)));
}
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
static inline float qsum(vq a, vq b) {
    __m256 s = _mm256_add_ps(_mm256_cvtepi32_ps(a), _mm256_cvtepi32_ps(b));
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
#define NQ (64 / QW)                                      /* widened vectors per cache line */

/* The largest input magnitude A for K inputs: each int32 lane of an accumulator adds at most
   NQ products per 64 inputs (plus NQ for a last half line), each at most A * 127. */
static inline float input_limit(int K) {
    const double lane_products = (double)K * NQ / 64 + NQ;
    const double a = 2147483647.0 / (127.0 * lane_products);
    return a < 32767.0 ? (float)(int)a : 32767.0f;
}

/* x (M rows of K bf16) -> q (M rows of K int16) and one fp32 scale per row (0 for a zero row). */
static void quantize_rows(const uint16_t* x, int M, int K, int16_t* q, float* scales) {
    const float limit = input_limit(K);
    for (int m = 0; m < M; m++) {
        const uint16_t* xm = x + (size_t)m * K;
        vf mx = vsplat(0.0f);
        for (int i = 0; i < K; i += VW) {
            vf a = (vf)((vi)load_bf16(xm + i) & 0x7fffffff);
            mx = vselect(a > mx, a, mx);
        }
        float top = 0.0f;
        for (int i = 0; i < VW; i++) top = mx[i] > top ? mx[i] : top;
        const float inv = top > 0.0f && isfinite(top) ? limit / top : 0.0f;
        scales[m] = inv > 0.0f ? top / limit : 0.0f;
        for (int i = 0; i < K; i += VW) store_q(q + (size_t)m * K + i, load_bf16(xm + i) * inv);
    }
}

/* s[m] = the int32 dot product (as fp32) of one weight row p (K int8) with MM quantized input
   rows (q: rows of K int16). Two accumulators per input row (alternate vectors of a line). */
#define QROW_DOT(MM)                                                                          \
static inline void qrow_dot_##MM(const int8_t* p, const int16_t* q, int K, int prefetch, float* s) { \
    vq acc[MM][2];                                                                            \
    for (int m = 0; m < MM; m++) acc[m][0] = acc[m][1] = qzero();                             \
    int k = 0;                                                                                \
    for (; k + 64 <= K; k += 64) {                                                            \
        if (prefetch) _mm_prefetch((const char*)(p + k) + ROW_PREFETCH_BYTES, _MM_HINT_T0);   \
        for (int j = 0; j < NQ; j++) {                                                        \
            const vq w = widen(p + k + QW * j);                                               \
            for (int m = 0; m < MM; m++)                                                      \
                acc[m][j & 1] = qdot(acc[m][j & 1], w, qload(q + (size_t)m * K + k + QW * j)); \
        }                                                                                     \
    }                                                                                         \
    for (; k < K; k += QW) {                              /* K % 64 == 32: the last 32 */     \
        const vq w = widen(p + k);                                                            \
        for (int m = 0; m < MM; m++) acc[m][0] = qdot(acc[m][0], w, qload(q + (size_t)m * K + k)); \
    }                                                                                         \
    for (int m = 0; m < MM; m++) s[m] = qsum(acc[m][0], acc[m][1]);                          \
}
QROW_DOT(1)
QROW_DOT(2)
QROW_DOT(3)
QROW_DOT(4)

/* Weight rows per block (the unit the threads share out). */
#define QROWS 16

/* QROWS weight rows from n0 against all M quantized input rows: each row streamed once from
   memory; beyond 4 input rows, groups of 4 take turns on the row (in the L1 cache by then). */
static void qblock(const int8_t* w, const float* wscale, const int16_t* q, const float* xscale, void* y, int ldy,
                   int M, int K, int n0, int mode) {
    float s[MAX_ROWS][QROWS], t[4];
    for (int r = 0; r < QROWS; r++) {
        const int8_t* p = w + (size_t)(n0 + r) * K;
        for (int m0 = 0; m0 < M; m0 += 4) {
            const int16_t* qm = q + (size_t)m0 * K;
            const int mm = M - m0 < 4 ? M - m0 : 4;
            switch (mm) {
                case 1: qrow_dot_1(p, qm, K, m0 == 0, t); break;
                case 2: qrow_dot_2(p, qm, K, m0 == 0, t); break;
                case 3: qrow_dot_3(p, qm, K, m0 == 0, t); break;
                default: qrow_dot_4(p, qm, K, m0 == 0, t); break;
            }
            for (int m = 0; m < mm; m++) s[m0 + m][r] = t[m] * wscale[n0 + r] * xscale[m0 + m];
        }
    }
    for (int m = 0; m < M; m++) store(mode, y, (size_t)m * ldy + n0, s[m], QROWS);
}

/* Scratch each thread needs for M quantized input rows of at most K values (decoder_step_body.h
   gives it from the step's memory and sets it per thread). */
#define MATVEC_SCRATCH_BYTES(M, K) ((size_t)(M) * (size_t)(K) * 2)
static __thread int16_t* q_inputs;
#define MATVEC_SET_SCRATCH(p) (q_inputs = (int16_t*)(p))

/* Weight rows per unit of matvec's static schedule, and where weight row n starts (after the
   N scales). */
static inline int matvec_rows(int M) { (void)M; return QROWS; }
static inline const char* matvec_row_address(const void* w, int N, int K, size_t n) {
    return (const char*)w + (size_t)N * 4 + n * (size_t)K;
}

/* This thread's share of y (M rows, leading dimension ldy) = x (M, K) @ w (N, K)^T, w an int8
   matrix (scales, then rows); inside a parallel region, no barrier at the end. Every thread
   quantizes the inputs itself (a few thousand values: cheaper than a barrier). */
static void matvec(const uint16_t* w16, const uint16_t* x, void* y, int ldy, int M, int N, int K, int mode) {
    const float* wscale = (const float*)w16;
    const int8_t* w = (const int8_t*)(wscale + N);
    float xscale[MAX_ROWS];
    quantize_rows(x, M, K, q_inputs, xscale);
    #pragma omp for schedule(static) nowait
    for (int b = 0; b < N / QROWS; b++) qblock(w, wscale, q_inputs, xscale, y, ldy, M, K, b * QROWS, mode);
}

#endif
