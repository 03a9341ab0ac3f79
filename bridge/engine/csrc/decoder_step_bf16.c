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

#include "bf16_matvec.h"

/* Built with -DSTEP_PROFILE (bench/step_profile.py), thread 0 adds the wall time of each phase
   of the step, the barrier that ends it included, to step_profile[phase]; otherwise PHASE is
   nothing. */
enum { P_NORMS, P_PRODUCTS, P_SELF_ATTENTION, P_CROSS_ATTENTION, P_FFN_IN_GELU, P_HEADS, P_COUNT };
#ifdef STEP_PROFILE
double step_profile[P_COUNT];
#define PHASE(i) if (tid == 0) { double t_ = omp_get_wtime(); step_profile[i] += t_ - t_last; t_last = t_; }
#else
#define PHASE(i)
#endif

/* dims[] */
enum { D_LAYERS, D_ROWS, D_HIDDEN, D_HEADS, D_HEAD_DIM, D_FFN, D_VOCAB, D_CODEBOOKS, D_HAS_CROSS,
       D_MAX_POS, D_CROSS_LEN, D_THREADS, D_COUNT };
/* per layer, in ptrs[] after the model-wide pointers */
enum { L_LN1_W, L_LN1_B, L_Q, L_K, L_V, L_O, L_LN2_W, L_LN2_B, L_CQ, L_CO, L_LN3_W, L_LN3_B, L_FC1,
       L_FC2, L_KEYS, L_VALUES, L_CROSS_KEYS, L_CROSS_VALUES, L_COUNT };

/* The layout Python must follow: 0 -> dims count, 1 -> pointers per layer. */
int decoder_step_layout(int which) { return which == 0 ? D_COUNT : L_COUNT; }

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
            float t[16];
            __m512 y = _mm512_fmadd_ps(load16_bf16(x + i), rv, cv);
            _mm512_storeu_ps(t, _mm512_fmadd_ps(y, load16_bf16(w + i), load16_bf16(b + i)));
            for (int j = 0; j < 16; j++) out[(size_t)m * H + i + j] = to_bf16(t[j]);
        }
    }
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

/* One query (HD values) against T keys/values (T rows of HD, contiguous): softmax(q.k * scale)
   over the positions where mask is nonzero (all when mask is NULL), times the values. A row
   with every position masked gives zeros (as torch's SDPA). sc: T floats of scratch.
   Dot products with vdpbf16ps, 32 values at a time (a head size of 16 mod 32 ends with a
   half-masked load), 16 positions summed at once; keys and values are prefetched 32 positions
   ahead (4 KB for a head of 64: the hardware prefetcher stops at page ends). */
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
            const uint16_t* k = keys + (size_t)(t + i) * HD;
            for (int c = 0; c < HD * 2; c += 64) _mm_prefetch((const char*)(k + 32 * HD) + c, _MM_HINT_T0);
            acc[i] = dot_partials(qv, k, J2, last);
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
        for (int c = 0; c < HD * 2; c += 64) _mm_prefetch((const char*)(v + 32 * HD) + c, _MM_HINT_T0);
        for (int j = 0; j < J; j++) o[j] = _mm512_fmadd_ps(p, load16_bf16(v + 16 * j), o[j]);
    }
    __m512 inv = _mm512_set1_ps(1.0f / sum);
    for (int j = 0; j < J; j++) {
        float tmp[16];
        _mm512_storeu_ps(tmp, _mm512_mul_ps(o[j], inv));
        for (int d = 0; d < 16; d++) out[16 * j + d] = to_bf16(tmp[d]);
    }
}

static inline size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* One decoding step.
   dims: see D_*. f: {attention scale, layer-norm epsilon}.
   ptrs: codebook embedding tables [codebooks], position table, final norm weight, final norm
   bias, codebook heads [codebooks], cross-attention mask (uint8 rows x cross_len, or NULL), then
   L_COUNT pointers per layer (see L_*; keys/values: (rows, heads, max_pos, head_dim); cross
   keys/values: (rows, heads, cross_len, head_dim); absent cross-attention entries are NULL).
   tokens: int64 (rows, codebooks). pos: the position written. logits: fp32 (rows, codebooks, vocab).
   Returns 0, or -1 when scratch memory could not be had (nothing written). */
int decoder_step_bf16(const int* dims, const float* f, void* const* ptrs, const int64_t* tokens, int pos,
                      float* logits) {
    const int L = dims[D_LAYERS], M = dims[D_ROWS], H = dims[D_HIDDEN], NH = dims[D_HEADS];
    const int HD = dims[D_HEAD_DIM], F = dims[D_FFN], V = dims[D_VOCAB], K = dims[D_CODEBOOKS];
    const int X = dims[D_HAS_CROSS], P = dims[D_MAX_POS], C = dims[D_CROSS_LEN];
    const int threads = dims[D_THREADS] > 0 ? dims[D_THREADS] : omp_get_max_threads();
    const float scale = f[0], eps = f[1];
    void* const* g = ptrs;
    void* const* layers = ptrs + 2 * K + 4;
    const uint8_t* cross_mask = (const uint8_t*)g[2 * K + 3];
    const int span = P > C ? P : C;
    const size_t hs = (size_t)M * H;

    size_t at[8], total = 0;
    const size_t sizes[8] = {hs * 2, hs * 2, hs * 2, hs * 2, hs * 2, (size_t)M * F * 2,
                             (size_t)threads * hs * 2, (size_t)threads * span * 4};
    for (int i = 0; i < 8; i++) { at[i] = total; total += align64(sizes[i]); }
    char* mem = (char*)aligned_alloc(64, total);
    if (!mem) return -1;
    uint16_t *h = (uint16_t*)(mem + at[0]), *qb = (uint16_t*)(mem + at[1]), *kn = (uint16_t*)(mem + at[2]);
    uint16_t *vn = (uint16_t*)(mem + at[3]), *ab = (uint16_t*)(mem + at[4]), *fb = (uint16_t*)(mem + at[5]);
    uint16_t* xps = (uint16_t*)(mem + at[6]);
    float* scs = (float*)(mem + at[7]);

    /* embeddings: sum of the codebooks' rows (rounded after each add), plus the position */
    const uint16_t* position = (const uint16_t*)g[K] + (size_t)pos * H;
    for (int m = 0; m < M; m++) {
        for (int i = 0; i < H; i++) {
            float acc = from_bf16(((const uint16_t*)g[0])[(size_t)tokens[(size_t)m * K] * H + i]);
            for (int c = 1; c < K; c++)
                acc = from_bf16(to_bf16(acc + from_bf16(((const uint16_t*)g[c])[(size_t)tokens[(size_t)m * K + c] * H + i])));
            h[(size_t)m * H + i] = to_bf16(acc + from_bf16(position[i]));
        }
    }

    #pragma omp parallel num_threads(threads)
    {
        const int tid = omp_get_thread_num();
        uint16_t* xp = xps + (size_t)tid * hs;   /* this thread's normalized input */
        float* sc = scs + (size_t)tid * span;
#ifdef STEP_PROFILE
        double t_last = omp_get_wtime();
#endif
        for (int l = 0; l < L; l++) {
            void* const* p = layers + (size_t)l * L_COUNT;
            layer_norm(h, p[L_LN1_W], p[L_LN1_B], xp, M, H, eps);
            PHASE(P_NORMS)
            matvec(p[L_Q], xp, qb, H, M, H, H, STORE_BF16);
            matvec(p[L_K], xp, kn, H, M, H, H, STORE_BF16);
            matvec(p[L_V], xp, vn, H, M, H, H, STORE_BF16);
            #pragma omp barrier
            PHASE(P_PRODUCTS)
            #pragma omp for schedule(static)
            for (int task = 0; task < M * NH; task++) {
                const int m = task / NH, head = task % NH;
                const size_t base = (size_t)(m * NH + head) * P * HD, col = (size_t)m * H + (size_t)head * HD;
                uint16_t* kc = (uint16_t*)p[L_KEYS] + base;
                uint16_t* vc = (uint16_t*)p[L_VALUES] + base;
                memcpy(kc + (size_t)pos * HD, kn + col, (size_t)HD * 2);
                memcpy(vc + (size_t)pos * HD, vn + col, (size_t)HD * 2);
                attend(qb + col, kc, vc, pos + 1, HD, scale, NULL, sc, ab + col);
            }
            PHASE(P_SELF_ATTENTION)
            matvec(p[L_O], ab, h, H, M, H, H, STORE_ADD);
            #pragma omp barrier
            PHASE(P_PRODUCTS)
            if (X) {
                layer_norm(h, p[L_LN2_W], p[L_LN2_B], xp, M, H, eps);
                PHASE(P_NORMS)
                matvec(p[L_CQ], xp, qb, H, M, H, H, STORE_BF16);
                #pragma omp barrier
                PHASE(P_PRODUCTS)
                #pragma omp for schedule(static)
                for (int task = 0; task < M * NH; task++) {
                    const int m = task / NH, head = task % NH;
                    const size_t base = (size_t)(m * NH + head) * C * HD, col = (size_t)m * H + (size_t)head * HD;
                    attend(qb + col, (const uint16_t*)p[L_CROSS_KEYS] + base, (const uint16_t*)p[L_CROSS_VALUES] + base,
                           C, HD, scale, cross_mask ? cross_mask + (size_t)m * C : NULL, sc, ab + col);
                }
                PHASE(P_CROSS_ATTENTION)
                matvec(p[L_CO], ab, h, H, M, H, H, STORE_ADD);
                #pragma omp barrier
                PHASE(P_PRODUCTS)
            }
            layer_norm(h, p[L_LN3_W], p[L_LN3_B], xp, M, H, eps);
            PHASE(P_NORMS)
            matvec(p[L_FC1], xp, fb, F, M, F, H, STORE_GELU);
            #pragma omp barrier
            PHASE(P_FFN_IN_GELU)
            matvec(p[L_FC2], fb, h, H, M, H, F, STORE_ADD);
            #pragma omp barrier
            PHASE(P_PRODUCTS)
        }
        layer_norm(h, g[K + 1], g[K + 2], xp, M, H, eps);
        for (int c = 0; c < K; c++)
            matvec(g[K + 3 + c], xp, logits + (size_t)c * V, K * V, M, V, H, STORE_F32);
#ifdef STEP_PROFILE
        #pragma omp barrier
        PHASE(P_HEADS)
#endif
    }
    free(mem);
    return 0;
}
