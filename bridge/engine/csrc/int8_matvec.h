/* Opt-in int8 weights (fp32_vec.h built with -DWEIGHTS_INT8): integer products on int8 weights
   and quantized inputs, for the same step as the bf16 weights (decoder_step_f32.c).

   A weight matrix of N rows is N fp32 scales (one per output row, symmetric: the row's largest
   magnitude over 127) followed by the N rows of K int8 values (cpu_step.quantize_int8). The
   input rows (bf16) are quantized once per product and thread, with one scale per row, to
   about 15 bits, so the inputs lose less than bf16 already did and the error is the weights'
   rounding. Each weight row is read from its start to its end (one sequential stream per
   thread, as the row streams of fp32_vec.h), 64 weights (one cache line) per iteration. The
   integer sums of each row are scaled to fp32 at the end: sum * weight scale * input scale.

   Two ways to multiply, by what the CPU has:
   - AVX512-VNNI ("digits"): each quantized input x (|x| <= 127 * 128) is two int8 digits,
     x = 128 * hi + lo (|hi| <= 127, |lo| <= 64), and the weights are made unsigned in the
     register (w + 128: one xor), so that vpdpbusd (unsigned x signed bytes, 64 products per
     instruction) takes them as they are read: 2 instructions a line per input row, no
     widening. The 128 * sum(digits) the offset adds is taken off at the end, exactly, in
     integers.
   - AVX2, AVX-512BW without VNNI ("words"): inputs as int16 (|x| <= 32767 or less for long
     rows, so that no int32 lane can overflow), weights widened to int16, vpmaddwd + vpaddd.

   Why by hand: the step reads the weights once, in place, with the quantization of the inputs
   and the bf16 rounding of torch's step in between; no library does a whole step. */
#ifndef INT8_MATVEC_H
#define INT8_MATVEC_H

#include <immintrin.h>

#if !(VW == 16 && defined(__AVX512VNNI__))
/* ---- words: int16 inputs, vpmaddwd ---- */
#if VW == 16
#define QW 32                                                         /* int16 lanes per vector */
typedef __m512i vq;
static inline vq widen(const int8_t* p) { return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i*)p)); }
static inline vq qload(const int16_t* p) { return _mm512_loadu_si512((const void*)p); }
static inline vq qzero(void) { return _mm512_setzero_si512(); }
static inline vq qdot(vq acc, vq a, vq b) { return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b)); }
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
static void quantize_rows(const uint16_t* x, int M, int K, void* scratch, float* scales) {
    int16_t* q = (int16_t*)scratch;
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

/* s[r][m] = the int32 dot product (as fp32) of RR weight rows (p: the first, K int8 each,
   contiguous) with MM quantized input rows (q: rows of K int16): the RR rows are read side by
   side (RR streams), so that each input vector loaded serves RR rows. Two accumulators per
   pair of rows (alternate vectors of a line). */
#define QROW_DOT(RR, MM)                                                                      \
static inline void qrow_dot_##RR##_##MM(const int8_t* p, const void* qv, int K, int prefetch, \
                                        const int32_t* sums, float (*s)[4]) {                 \
    (void)sums;                                                                               \
    const int16_t* q = (const int16_t*)qv;                                                    \
    vq acc[RR][MM][2];                                                                        \
    for (int r = 0; r < RR; r++) for (int m = 0; m < MM; m++) acc[r][m][0] = acc[r][m][1] = qzero(); \
    int k = 0;                                                                                \
    for (; k + 64 <= K; k += 64) {                                                            \
        if (prefetch)                                                                         \
            for (int r = 0; r < RR; r++)                                                      \
                _mm_prefetch((const char*)(p + (size_t)r * K + k) + ROW_PREFETCH_BYTES, _MM_HINT_T0); \
        for (int j = 0; j < NQ; j++) {                                                        \
            vq w[RR];                                                                         \
            for (int r = 0; r < RR; r++) w[r] = widen(p + (size_t)r * K + k + QW * j);        \
            for (int m = 0; m < MM; m++) {                                                    \
                const vq x = qload(q + (size_t)m * K + k + QW * j);                          \
                for (int r = 0; r < RR; r++) acc[r][m][j & 1] = qdot(acc[r][m][j & 1], w[r], x); \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
    for (; k < K; k += QW) {                              /* K % 64 == 32: the last 32 */     \
        for (int m = 0; m < MM; m++) {                                                        \
            const vq x = qload(q + (size_t)m * K + k);                                        \
            for (int r = 0; r < RR; r++) acc[r][m][0] = qdot(acc[r][m][0], widen(p + (size_t)r * K + k), x); \
        }                                                                                     \
    }                                                                                         \
    for (int r = 0; r < RR; r++) for (int m = 0; m < MM; m++) s[r][m] = qsum(acc[r][m][0], acc[r][m][1]); \
}
/* rows side by side for few and for many input rows: 8 accumulators at most (16 ymm registers) */
#define RR_FEW 2
#define RR_MANY 1
/* the input rows m0.. of the scratch, as qrow_dot takes them (no sums: plain integers) */
static inline const void* inputs_from(const void* scratch, int m0, int K) { return (const int16_t*)scratch + (size_t)m0 * K; }
#define QSUMS(m0) ((const int32_t*)NULL)

#else
/* ---- digits: two int8 digits per input, vpdpbusd ---- */
/* Per input row in the scratch: KP(K) high digits, then KP(K) low digits (zero past K). */
#define KP(K) (((K) + 63) & ~63)
#define DIGIT 128
#define INPUT_LIMIT (127.0f * DIGIT)
/* the digit sums of each input row of the last quantize_rows (high, low), this thread's */
static __thread int32_t digit_sums[2 * MAX_ROWS];
#define QSUMS(m0) (digit_sums + 2 * (m0))

static inline __m512 load16(const uint16_t* p) {          /* 16 bf16 as fp32 */
    vf v = load_bf16(p);
    __m512 f;
    memcpy(&f, &v, sizeof f);
    return f;
}

static void quantize_rows(const uint16_t* x, int M, int K, void* scratch, float* scales) {
    const int kp = KP(K);
    for (int m = 0; m < M; m++) {
        const uint16_t* xm = x + (size_t)m * K;
        int8_t* hi = (int8_t*)scratch + (size_t)m * 2 * kp;
        int8_t* lo = hi + kp;
        __m512 mx = _mm512_setzero_ps();
        for (int i = 0; i < K; i += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(load16(xm + i)));
        const float top = _mm512_reduce_max_ps(mx);
        const float inv = top > 0.0f && isfinite(top) ? INPUT_LIMIT / top : 0.0f;
        scales[m] = inv > 0.0f ? top / INPUT_LIMIT : 0.0f;
        __m512i sh = _mm512_setzero_si512(), sl = _mm512_setzero_si512();
        for (int i = 0; i < K; i += 16) {
            const __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(load16(xm + i), _mm512_set1_ps(inv)),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __m512 h = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.0f / DIGIT)),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __m512i h32 = _mm512_cvtps_epi32(h);
            const __m512i l32 = _mm512_cvtps_epi32(_mm512_fnmadd_ps(h, _mm512_set1_ps((float)DIGIT), v));
            _mm_storeu_si128((__m128i*)(hi + i), _mm512_cvtepi32_epi8(h32));
            _mm_storeu_si128((__m128i*)(lo + i), _mm512_cvtepi32_epi8(l32));
            sh = _mm512_add_epi32(sh, h32);
            sl = _mm512_add_epi32(sl, l32);
        }
        for (int i = K; i < kp; i++) hi[i] = lo[i] = 0;
        digit_sums[2 * m] = _mm512_reduce_add_epi32(sh);
        digit_sums[2 * m + 1] = _mm512_reduce_add_epi32(sl);
    }
}

/* the input rows m0.. of the scratch, as qrow_dot takes them */
static inline const void* inputs_from(const void* scratch, int m0, int K) {
    return (const int8_t*)scratch + (size_t)m0 * 2 * KP(K);
}

/* s[r][m] = the exact dot product (as fp32) of RR weight rows (p: the first, K int8 each,
   contiguous) with MM quantized input rows (q: digit rows, see quantize_rows; sums: their
   digit sums), the RR rows read side by side so that each input vector loaded serves RR
   rows. One accumulator per digit, weight row and input row; the weights' +128 comes back as
   128 * digit sum. Exact in int32: a lane adds at most K / 16 products of 255 * 127, and a
   row's whole sum is at most K * 255 * 127 (K up to 16384). */
#define QROW_DOT(RR, MM)                                                                      \
static inline void qrow_dot_##RR##_##MM(const int8_t* p, const void* qv, int K, int prefetch, \
                                        const int32_t* sums, float (*s)[4]) {                 \
    const int8_t* q = (const int8_t*)qv;                                                      \
    const size_t kp = KP(K);                                                                  \
    const __m512i flip = _mm512_set1_epi8((char)0x80);                                        \
    __m512i ah[RR][MM], al[RR][MM];                                                           \
    for (int r = 0; r < RR; r++) for (int m = 0; m < MM; m++) ah[r][m] = al[r][m] = _mm512_setzero_si512(); \
    for (int k = 0; k < K; k += 64) {                                                         \
        __m512i w[RR];                                                                        \
        if (k + 64 <= K) {                                                                    \
            for (int r = 0; r < RR; r++) {                                                    \
                const int8_t* pr = p + (size_t)r * K + k;                                     \
                if (prefetch) _mm_prefetch((const char*)pr + ROW_PREFETCH_BYTES, _MM_HINT_T0); \
                w[r] = _mm512_xor_si512(_mm512_loadu_si512((const void*)pr), flip);           \
            }                                                                                 \
        } else {                           /* K % 64 == 32: half a line; the digits are 0 past K */ \
            for (int r = 0; r < RR; r++)                                                      \
                w[r] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(0xffffffffull, p + (size_t)r * K + k), flip); \
        }                                                                                     \
        for (int m = 0; m < MM; m++) {                                                        \
            const int8_t* qm = q + 2 * kp * m + k;                                            \
            const __m512i hi = _mm512_loadu_si512((const void*)qm), lo = _mm512_loadu_si512((const void*)(qm + kp)); \
            for (int r = 0; r < RR; r++) {                                                    \
                ah[r][m] = _mm512_dpbusd_epi32(ah[r][m], w[r], hi);                           \
                al[r][m] = _mm512_dpbusd_epi32(al[r][m], w[r], lo);                           \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
    for (int r = 0; r < RR; r++)                                                              \
        for (int m = 0; m < MM; m++) {                                                        \
            const int64_t h = (int64_t)_mm512_reduce_add_epi32(ah[r][m]) - (int64_t)DIGIT * sums[2 * m]; \
            const int64_t l = (int64_t)_mm512_reduce_add_epi32(al[r][m]) - (int64_t)DIGIT * sums[2 * m + 1]; \
            s[r][m] = (float)(DIGIT * h + l);                                                 \
        }                                                                                     \
}
/* rows side by side for few and for many input rows: 16 accumulators at most (32 registers) */
#ifndef RR_FEW
#define RR_FEW 4
#endif
#define RR_MANY 2
#endif

#define QROW_DOT_EXPANDED(RR, MM) QROW_DOT(RR, MM)
QROW_DOT_EXPANDED(RR_FEW, 1)
QROW_DOT_EXPANDED(RR_FEW, 2)
QROW_DOT_EXPANDED(RR_MANY, 3)
QROW_DOT_EXPANDED(RR_MANY, 4)
#define QDOT_FN_(RR, MM) qrow_dot_##RR##_##MM
#define QDOT_FN(RR, MM) QDOT_FN_(RR, MM)

/* Weight rows per block (the unit the threads share out). */
#define QROWS 16

/* QROWS weight rows from n0 against all M quantized input rows: each row streamed once from
   memory, RR_FEW (one or two input rows) or RR_MANY rows side by side; beyond 4 input rows,
   groups of 4 take turns on the rows (in the L1 cache by then). */
static void qblock(const int8_t* w, const float* wscale, const void* q, const float* xscale, void* y, int ldy,
                   int M, int K, int n0, int mode) {
    float s[MAX_ROWS][QROWS], t[4][4];
    const int rr = M <= 2 ? RR_FEW : RR_MANY;
    for (int r0 = 0; r0 < QROWS; r0 += rr) {
        const int8_t* p = w + (size_t)(n0 + r0) * K;
        for (int m0 = 0; m0 < M; m0 += 4) {
            const void* qm = inputs_from(q, m0, K);
            const int mm = M - m0 < 4 ? M - m0 : 4;
            switch (mm) {
                case 1: QDOT_FN(RR_FEW, 1)(p, qm, K, m0 == 0, QSUMS(m0), t); break;
                case 2: QDOT_FN(RR_FEW, 2)(p, qm, K, m0 == 0, QSUMS(m0), t); break;
                case 3: QDOT_FN(RR_MANY, 3)(p, qm, K, m0 == 0, QSUMS(m0), t); break;
                default: QDOT_FN(RR_MANY, 4)(p, qm, K, m0 == 0, QSUMS(m0), t); break;
            }
            for (int r = 0; r < rr; r++)
                for (int m = 0; m < mm; m++) s[m0 + m][r0 + r] = t[r][m] * wscale[n0 + r0 + r] * xscale[m0 + m];
        }
    }
    for (int m = 0; m < M; m++) store(mode, y, (size_t)m * ldy + n0, s[m], QROWS);
}

/* Scratch each thread needs for M quantized input rows of at most K values (decoder_step_body.h
   gives it from the step's memory and sets it per thread). */
#define MATVEC_SCRATCH_BYTES(M, K) ((size_t)(M) * (size_t)(((K) + 63) & ~63) * 2)
static __thread void* q_inputs;
#define MATVEC_SET_SCRATCH(p) (q_inputs = (void*)(p))

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
