/* The body of a whole decoding step, shared by decoder_step_bf16.c (AVX512-BF16 products) and
   decoder_step_f32.c (bf16 weights, fp32 arithmetic: AVX2+FMA or AVX-512F). The including file
   defines STEP_NAME (the exported function's name) and, before including this, the helpers the
   step calls: to_bf16, from_bf16, layer_norm, attend and matvec (bf16 activations in and out,
   fp32 sums, the STORE_* modes), with <omp.h> and attention_prefetch.h included. */
#ifndef STEP_NAME
#error "define STEP_NAME before including decoder_step_body.h"
#endif

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

static inline size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Per-thread scratch the products need (the int8 products' quantized inputs); none by default. */
#ifndef MATVEC_SCRATCH_BYTES
#define MATVEC_SCRATCH_BYTES(M, K) ((size_t)0)
#define MATVEC_SET_SCRATCH(p) ((void)(p))
#endif

/* Bytes of the next product each thread prefetches while it waits at a barrier: a product
   starts on a cold stream otherwise (the row streams prefetch ROW_PREFETCH_BYTES ahead, so
   the first few kilobytes of each thread's share arrive at memory latency, one line after
   another); this covers them. */
#ifndef WARM_BYTES
#define WARM_BYTES 4096
#endif

/* Prefetch the start of this thread's share of the product of w (N rows of K) with M input
   rows, as matvec's static schedule hands out its blocks (equal contiguous shares in thread
   order). Called before a barrier, with the product that follows it. */
static inline void warm(const void* w, int M, int N, int K) {
    const int T = omp_get_num_threads(), tid = omp_get_thread_num();
    const int blocks = N / matvec_rows(M), q = blocks / T, r = blocks % T;
    const size_t first = (size_t)(tid * q + (tid < r ? tid : r)) * matvec_rows(M);
    const char* p = matvec_row_address(w, N, K, first);
    for (int b = 0; b < WARM_BYTES; b += 64) __builtin_prefetch(p + b, 0, 3);
}

/* One decoding step.
   dims: see D_*. f: {attention scale, layer-norm epsilon}.
   ptrs: codebook embedding tables [codebooks], position table, final norm weight, final norm
   bias, codebook heads [codebooks], cross-attention mask (uint8 rows x cross_len, or NULL), then
   L_COUNT pointers per layer (see L_*; keys/values: (rows, heads, max_pos, head_dim); cross
   keys/values: (rows, heads, cross_len, head_dim); absent cross-attention entries are NULL).
   tokens: int64 (rows, codebooks). pos: the position written. logits: fp32 (rows, codebooks, vocab).
   Returns 0, or -1 when scratch memory could not be had (nothing written). */
int STEP_NAME(const int* dims, const float* f, void* const* ptrs, const int64_t* tokens, int pos,
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

    const size_t per_thread = align64(MATVEC_SCRATCH_BYTES(M, H > F ? H : F));
    size_t at[9], total = 0;
    const size_t sizes[9] = {hs * 2, hs * 2, hs * 2, hs * 2, hs * 2, (size_t)M * F * 2,
                             (size_t)threads * hs * 2, (size_t)threads * span * 4, (size_t)threads * per_thread};
    for (int i = 0; i < 9; i++) { at[i] = total; total += align64(sizes[i]); }
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
        MATVEC_SET_SCRATCH(mem + at[8] + (size_t)tid * per_thread);
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
            warm(p[L_O], M, H, H);
            #pragma omp barrier
            PHASE(P_PRODUCTS)
            #pragma omp for schedule(static)
            for (int task = 0; task < M * NH; task++) {
                const int m = task / NH, head = task % NH;
                const size_t base = (size_t)(m * NH + head) * P * HD, col = (size_t)m * H + (size_t)head * HD;
                uint16_t* kc = (uint16_t*)p[L_KEYS] + base;
                uint16_t* vc = (uint16_t*)p[L_VALUES] + base;
                if (task + 1 < M * NH)   /* tasks are rows x heads, the cache's order: the next head is P * HD on */
                    warm_head(kc + (size_t)P * HD, vc + (size_t)P * HD, pos + 1, HD, pos);
                memcpy(kc + (size_t)pos * HD, kn + col, (size_t)HD * 2);
                memcpy(vc + (size_t)pos * HD, vn + col, (size_t)HD * 2);
                attend(qb + col, kc, vc, pos + 1, HD, scale, NULL, sc, ab + col);
            }
            PHASE(P_SELF_ATTENTION)
            matvec(p[L_O], ab, h, H, M, H, H, STORE_ADD);
            if (X) warm(p[L_CQ], M, H, H);
            else warm(p[L_FC1], M, F, H);
            #pragma omp barrier
            PHASE(P_PRODUCTS)
            if (X) {
                layer_norm(h, p[L_LN2_W], p[L_LN2_B], xp, M, H, eps);
                PHASE(P_NORMS)
                matvec(p[L_CQ], xp, qb, H, M, H, H, STORE_BF16);
                warm(p[L_CO], M, H, H);
                #pragma omp barrier
                PHASE(P_PRODUCTS)
                #pragma omp for schedule(static)
                for (int task = 0; task < M * NH; task++) {
                    const int m = task / NH, head = task % NH;
                    const size_t base = (size_t)(m * NH + head) * C * HD, col = (size_t)m * H + (size_t)head * HD;
                    if (task + 1 < M * NH)
                        warm_head((const uint16_t*)p[L_CROSS_KEYS] + base + (size_t)C * HD,
                                  (const uint16_t*)p[L_CROSS_VALUES] + base + (size_t)C * HD, C, HD, -1);
                    attend(qb + col, (const uint16_t*)p[L_CROSS_KEYS] + base, (const uint16_t*)p[L_CROSS_VALUES] + base,
                           C, HD, scale, cross_mask ? cross_mask + (size_t)m * C : NULL, sc, ab + col);
                }
                PHASE(P_CROSS_ATTENTION)
                matvec(p[L_CO], ab, h, H, M, H, H, STORE_ADD);
                warm(p[L_FC1], M, F, H);
                #pragma omp barrier
                PHASE(P_PRODUCTS)
            }
            layer_norm(h, p[L_LN3_W], p[L_LN3_B], xp, M, H, eps);
            PHASE(P_NORMS)
            matvec(p[L_FC1], xp, fb, F, M, F, H, STORE_GELU);
            warm(p[L_FC2], M, H, F);
            #pragma omp barrier
            PHASE(P_FFN_IN_GELU)
            matvec(p[L_FC2], fb, h, H, M, H, F, STORE_ADD);
            if (l + 1 < L) warm(layers[(size_t)(l + 1) * L_COUNT + L_Q], M, H, H);
            else warm(g[K + 3], M, V, H);
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
