/* The whole MusicGen decoding step of decoder_step_bf16.c (same layout, same rounding points:
   every operation's output rounded to bf16, as torch's bf16 eager step) for x86 CPUs without
   AVX512-BF16: bf16 weights, KV cache and activations in memory, fp32 arithmetic. Built twice by
   cpu_kernels.py: -DVW=8 -mavx2 -mfma (exported as decoder_step_avx2) and -DVW=16 -mavx512f
   (decoder_step_avx512); with -DWEIGHTS_INT8 as well, the same step reading int8 weights with
   one scale per output row, multiplied in integers (decoder_step_avx2_int8,
   decoder_step_avx512_int8; opt-in; int8_matvec.h). The products are fp32_vec.h's; the body is
   decoder_step_body.h. */
#include <omp.h>
#include <stdlib.h>

#include "attention_prefetch.h"
#include "fp32_vec.h"

/* out (M, H) = layer_norm(h (M, H)) * w + b, statistics in fp32 (biased variance, as torch). */
static void layer_norm(const uint16_t* h, const uint16_t* w, const uint16_t* b, uint16_t* out, int M, int H,
                       float eps) {
    for (int m = 0; m < M; m++) {
        const uint16_t* x = h + (size_t)m * H;
        vf s = vsplat(0.0f);
        for (int i = 0; i < H; i += VW) s += load_bf16(x + i);
        const float mean = vsum(s) / H;
        vf v = vsplat(0.0f);
        for (int i = 0; i < H; i += VW) {
            vf d = load_bf16(x + i) - mean;
            v += d * d;
        }
        const float rstd = 1.0f / sqrtf(vsum(v) / H + eps);
        for (int i = 0; i < H; i += VW) {
            float t[VW];
            vstore(t, ((load_bf16(x + i) * rstd - mean * rstd) * load_bf16(w + i)) + load_bf16(b + i));
            for (int j = 0; j < VW; j++) out[(size_t)m * H + i + j] = to_bf16(t[j]);
        }
    }
}

/* One query (HD values, a multiple of 16) against T keys/values (T rows of HD, contiguous):
   softmax(q.k * scale) over the positions where mask is nonzero (all when mask is NULL), times
   the values. A row with every position masked gives zeros (as torch's SDPA). sc: T floats of
   scratch. Keys and values are prefetched 32 positions ahead, none past the last (the hardware
   prefetcher stops at page ends): the values into L2 while the keys are read, into L1 while
   the values are. The first 32 positions of both were prefetched while the task before ran
   (warm_head, attention_prefetch.h). */
static void attend(const uint16_t* q, const uint16_t* keys, const uint16_t* values, int T, int HD, float scale,
                   const uint8_t* mask, float* sc, uint16_t* out) {
    const int J = HD / VW;
    vf qv[256 / VW], o[256 / VW];
    for (int j = 0; j < J; j++) { qv[j] = load_bf16(q + VW * j); o[j] = vsplat(0.0f); }
    for (int t = 0; t < T; t++) {
        const uint16_t* k = keys + (size_t)t * HD;
        prefetch_ahead_of_keys(keys, values, t, T, HD);
        vf a = qv[0] * load_bf16(k);
        for (int j = 1; j < J; j++) a += qv[j] * load_bf16(k + VW * j);
        sc[t] = vsum(a) * scale;
    }
    float mx = -INFINITY;
    for (int t = 0; t < T; t++) {
        if (mask && !mask[t]) sc[t] = -INFINITY;
        else if (sc[t] > mx) mx = sc[t];
    }
    if (mx == -INFINITY) {
        for (int d = 0; d < HD; d++) out[d] = 0;
        return;
    }
    float sum = 0.0f;
    int t = 0;
    for (; t + VW <= T; t += VW) {
        vf e = vexp(vload(sc + t) - mx);
        vstore(sc + t, e);
        sum += vsum(e);
    }
    if (t < T) {                                /* the last T % VW positions, padded with -inf */
        float tail[VW];
        for (int i = 0; i < VW; i++) tail[i] = t + i < T ? sc[t + i] : -INFINITY;
        vf e = vexp(vload(tail) - mx);
        vstore(tail, e);
        for (int i = 0; t + i < T; i++) sc[t + i] = tail[i];
        sum += vsum(e);
    }
    for (t = 0; t < T; t++) {
        if (sc[t] == 0.0f) continue;
        const float p = sc[t];
        const uint16_t* v = values + (size_t)t * HD;
        prefetch_ahead_of_values(values, t, T, HD);
        for (int j = 0; j < J; j++) o[j] += p * load_bf16(v + VW * j);
    }
    const float inv = 1.0f / sum;
    for (int j = 0; j < J; j++) {
        float tmp[VW];
        vstore(tmp, o[j] * inv);
        for (int d = 0; d < VW; d++) out[VW * j + d] = to_bf16(tmp[d]);
    }
}

#if VW == 8 && defined(WEIGHTS_INT8)
#define STEP_NAME decoder_step_avx2_int8
#elif VW == 8
#define STEP_NAME decoder_step_avx2
#elif defined(WEIGHTS_INT8)
#define STEP_NAME decoder_step_avx512_int8
#else
#define STEP_NAME decoder_step_avx512
#endif
#include "decoder_step_body.h"
