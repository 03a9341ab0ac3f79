/* A whole MusicGen decoding step (one new position for each of a few rows) in one call, for
   bf16 weights on CPUs with AVX512-BF16: embeddings, every decoder layer (layer norms,
   self-attention over the static KV cache, cross-attention over the text, GELU feed-forward,
   residuals) and the codebook heads, in one OpenMP parallel region. The weight products are the
   same blocks as linear_bf16.c; the small operations between them run on data that is already
   in the cores' caches, with no Python, no torch dispatch and no thread start-up between them.

   Rounding follows torch's bf16 eager step: every operation's output is rounded to bf16 (layer
   norms, products, attention, GELU, residual sums), each computed in fp32. */
#include <omp.h>
#include <stdlib.h>

#include "attention_prefetch.h"
#include "bf16_matvec.h"

/* out (M, H) = layer_norm(h (M, H)) * w + b, statistics in fp32 (biased variance, as torch). */
static void layer_norm(const uint16_t* h, const uint16_t* w, const uint16_t* b, uint16_t* out, int M, int H,
                       float eps) {
    for (int m = 0; m < M; m++) {
        const uint16_t* x = h + (size_t)m * H;
        __m512 s = _mm512_setzero_ps();
        for (int i = 0; i < H; i += 16) s = _mm512_add_ps(s, load16_bf16(x + i));
        float mean = _mm512_reduce_add_ps(s) / H;
        __m512 mv = _mm512_set1_ps(mean), v = _mm512_setzero_ps();
        for (int i = 0; i < H; i += 16) {
            __m512 d = _mm512_sub_ps(load16_bf16(x + i), mv);
            v = _mm512_fmadd_ps(d, d, v);
        }
        float rstd = 1.0f / sqrtf(_mm512_reduce_add_ps(v) / H + eps);
        __m512 rv = _mm512_set1_ps(rstd), cv = _mm512_set1_ps(-mean * rstd);
        for (int i = 0; i < H; i += 16) {
            __m512 y = _mm512_fmadd_ps(load16_bf16(x + i), rv, cv);
#ifdef SCALAR_STORES
            float t[16];
            _mm512_storeu_ps(t, _mm512_fmadd_ps(y, load16_bf16(w + i), load16_bf16(b + i)));
            for (int j = 0; j < 16; j++) out[(size_t)m * H + i + j] = to_bf16(t[j]);
#else
            _mm256_storeu_si256((__m256i*)(out + (size_t)m * H + i),
                                to_bf16_16(_mm512_fmadd_ps(y, load16_bf16(w + i), load16_bf16(b + i))));
#endif
        }
    }
}

/* One query (HD values) against T keys/values (T rows of HD, contiguous): softmax(q.k * scale)
   over the positions where mask is nonzero (all when mask is NULL), times the values. A row
   with every position masked gives zeros (as torch's SDPA). sc: T floats of scratch.
   Dot products with vdpbf16ps, 32 values at a time (a head size of 16 mod 32 ends with a
   half-masked load), 16 positions summed at once. Keys and values are prefetched 32 positions
   ahead, none past the last (4 KB for a head of 64: the hardware prefetcher stops at page ends):
   the values into L2 while the keys are read, into L1 while the values are. The first 32
   positions of both were prefetched while the task before ran (warm_head,
   attention_prefetch.h). */
/* The 16 fp32 partial sums of q . k over a head of J2 * 32 values (qv: q in pairs, zero past the
   head; last: the load mask of the final 32). */
static inline __m512 dot_partials(const __m512bh* qv, const uint16_t* k, int J2, __mmask32 last) {
    __m512 a = _mm512_setzero_ps();
    for (int j = 0; j < J2; j++)
        a = _mm512_dpbf16_ps(a, (__m512bh)_mm512_maskz_loadu_epi16(j == J2 - 1 ? last : (__mmask32)0xffffffffu,
                                                                    k + 32 * j), qv[j]);
    return a;
}

static void attend(const uint16_t* q, const uint16_t* keys, const uint16_t* values, int T, int HD, float scale,
                   const uint8_t* mask, float* sc, uint16_t* out) {
    const int J = HD / 16, J2 = (HD + 31) / 32;
    const __mmask32 last = HD % 32 ? (__mmask32)0xffffu : (__mmask32)0xffffffffu;
    __m512bh qv[8];
    __m512 o[16];
    for (int j = 0; j < J2; j++)
        qv[j] = (__m512bh)_mm512_maskz_loadu_epi16(j == J2 - 1 ? last : (__mmask32)0xffffffffu, q + 32 * j);
    for (int j = 0; j < J; j++) o[j] = _mm512_setzero_ps();
    const __m512 sv = _mm512_set1_ps(scale);
    int t = 0;
    for (; t + 16 <= T; t += 16) {
        __m512 acc[16];
        for (int i = 0; i < 16; i++) {
            prefetch_ahead_of_keys(keys, values, t + i, T, HD);
            acc[i] = dot_partials(qv, keys + (size_t)(t + i) * HD, J2, last);
        }
        _mm512_storeu_ps(sc + t, _mm512_mul_ps(sum16x16(acc), sv));
    }
    for (; t < T; t++) sc[t] = _mm512_reduce_add_ps(dot_partials(qv, keys + (size_t)t * HD, J2, last)) * scale;
    float mx = -INFINITY;
    for (t = 0; t < T; t++) {
        if (mask && !mask[t]) sc[t] = -INFINITY;
        else if (sc[t] > mx) mx = sc[t];
    }
    if (mx == -INFINITY) {
        for (int d = 0; d < HD; d++) out[d] = 0;
        return;
    }
    __m512 mxv = _mm512_set1_ps(mx);
    float sum = 0.0f;
    for (t = 0; t < T; t += 16) {
        __mmask16 m = T - t >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (T - t)) - 1u);
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sc + t), mxv));
        _mm512_mask_storeu_ps(sc + t, m, e);
        sum += _mm512_mask_reduce_add_ps(m, e);
    }
    for (t = 0; t < T; t++) {
        if (sc[t] == 0.0f) continue;
        __m512 p = _mm512_set1_ps(sc[t]);
        const uint16_t* v = values + (size_t)t * HD;
        prefetch_ahead_of_values(values, t, T, HD);
        for (int j = 0; j < J; j++) o[j] = _mm512_fmadd_ps(p, load16_bf16(v + 16 * j), o[j]);
    }
    __m512 inv = _mm512_set1_ps(1.0f / sum);
    for (int j = 0; j < J; j++) {
#ifdef SCALAR_STORES
        float tmp[16];
        _mm512_storeu_ps(tmp, _mm512_mul_ps(o[j], inv));
        for (int d = 0; d < 16; d++) out[16 * j + d] = to_bf16(tmp[d]);
#else
        _mm256_storeu_si256((__m256i*)(out + 16 * j), to_bf16_16(_mm512_mul_ps(o[j], inv)));
#endif
    }
}

#define STEP_NAME decoder_step_bf16
#include "decoder_step_body.h"
