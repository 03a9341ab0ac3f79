/* The AVX512-BF16 products on packed copies of the weights (bf16_matvec.h built with
   -DBF16_PACKED=1; cpu_kernels.packed_layout says where: every CPU but Intel's). A copy costs
   the decoder's weight bytes once more, and is read instead of nn.Linear's layout because of
   how AMD Zen 4 reads memory (bench/matvec_prefetch.py, bench/step_ab.py):
   - each thread's share of a matrix is one sequential stream, whatever the number of input
     rows: in the plain layout, products of 4-16 input rows read several weight rows side by
     side (several short streams), and row streams (one weight row after another) load every
     input vector once per weight row;
   - each input vector loaded serves 2 weight rows;
   - the inputs of one segment (at most 1024 values of up to 8 rows: 16 KB) stay in the L1
     cache: with 8 rows of 4096 inputs (the feed-forward's second product with 4 variations,
     64 KB of inputs) row streams read the weights at about 12 GB/s, the packed blocks at 23-27.

   Layout (cpu_step.pack_bf16 makes it once, at load): a matrix of N rows (a multiple of
   PACK_ROWS) and K columns (a multiple of 32) is N / PACK_ROWS blocks, one after the other,
   each PACK_ROWS * K values (block b starts where row b * PACK_ROWS starts in the plain
   layout). A block is K / S segments of S = pack_segment(K) columns, one after the other; a
   segment is the block's PACK_ROWS / 2 pairs of rows, one after the other; a pair is S / 32
   lines, each 32 values of its first row then the same 32 of its second (64 bytes each).

   Why by hand: a whole decoding step in one call reading each weight once; no library does
   that (see decoder_step_bf16.c). */
#ifndef BF16_PACKED_H
#define BF16_PACKED_H

#define PACK_ROWS 32                /* weight rows per block: the unit the threads share out */
#define PACK_SEGMENT_MAX 1024       /* most columns per segment */
#ifndef PACK_PREFETCH_BYTES
#define PACK_PREFETCH_BYTES 4096
#endif
#ifndef PACK_HINT
#define PACK_HINT _MM_HINT_T1       /* into L2, as the row streams of 4-8 rows */
#endif

/* The segment length for K columns: the largest divisor of K that is a multiple of 32 and at
   most PACK_SEGMENT_MAX, counted in equal parts (cpu_step.pack_segment is the same). */
static inline int pack_segment(int K) {
    int n = (K + PACK_SEGMENT_MAX - 1) / PACK_SEGMENT_MAX;
    while (K % n || (K / n) % 32) n++;
    return K / n;
}

/* One pair of weight rows (g: S / 32 lines) against MM input rows (x, leading dimension ldx)
   over S columns: sums[r * 8 + m] += row r . input m (lanes past MM untouched, as zeros).
   Prefetches, per line read: the line `ahead` bytes further (none for 0); and with `next`,
   the line at next + (at >> shift), `at` the offset of the lines read in their block. */
#define PAIR_DOT(MM)                                                                          \
static inline void pair_dot_##MM(const uint16_t* g, const uint16_t* x, int S, int ldx, size_t ahead, \
                                 const char* next, size_t at, int shift, float* sums) {         \
    __m512 a[16];                                                                             \
    for (int i = 0; i < 16; i++) a[i] = _mm512_setzero_ps();                                  \
    for (int k = 0; k < S; k += 32, g += 64, at += 128) {                                     \
        if (ahead) {                                                                          \
            _mm_prefetch((const char*)g + ahead, PACK_HINT);                                   \
            _mm_prefetch((const char*)g + ahead + 64, PACK_HINT);                              \
        }                                                                                     \
        if (next) _mm_prefetch(next + (at >> shift), PACK_HINT);                               \
        const __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void*)g);                     \
        const __m512bh w1 = (__m512bh)_mm512_loadu_si512((const void*)(g + 32));              \
        for (int m = 0; m < MM; m++) {                                                        \
            const __m512bh xv = (__m512bh)_mm512_loadu_si512((const void*)(x + (size_t)m * ldx + k)); \
            a[m] = _mm512_dpbf16_ps(a[m], w0, xv);                                            \
            a[8 + m] = _mm512_dpbf16_ps(a[8 + m], w1, xv);                                    \
        }                                                                                     \
    }                                                                                         \
    _mm512_storeu_ps(sums, _mm512_add_ps(_mm512_loadu_ps(sums), sum16x16(a)));                \
}
PAIR_DOT(1)
PAIR_DOT(2)
PAIR_DOT(4)
PAIR_DOT(8)

/* The block of PACK_ROWS weight rows from n0 against all M input rows: groups of 8, 4, 2 and
   1 input rows take turns on each pair's segment (in the L1 cache after the first group). */
#ifndef PACK_NEXT_BLOCK
#define PACK_NEXT_BLOCK 1
#endif
static void packed_block(const uint16_t* w, const uint16_t* x, void* y, int ldy, int M, int K, int n0, int mode) {
    const uint16_t* wb = w + (size_t)n0 * K;
    const int S = pack_segment(K);
    float sums[MAX_ROWS][PACK_ROWS];
    /* With more than 8 input rows the block is multiplied in several passes (groups of 8, 4,
       2, 1 rows); the first reads it from memory (prefetching PACK_PREFETCH_BYTES ahead), the
       others from the caches. Every pass also prefetches its share of the next block, spread
       over its lines, so that memory keeps streaming while the block is multiplied (else the
       weight reads and the multiplies take turns). */
    int passes = 0;
    for (int m0 = 0; m0 < M; passes++) m0 += input_group(M - m0);
    int shift = 0;
    while ((1 << shift) < passes) shift++;
    const size_t block_bytes = (size_t)PACK_ROWS * K * 2;
    for (int m0 = 0, pass = 0; m0 < M; pass++) {
        const int mm = input_group(M - m0);
        const size_t ahead = pass == 0 ? (size_t)PACK_PREFETCH_BYTES : 0;
        const char* next = passes > 1 && PACK_NEXT_BLOCK
            ? (const char*)wb + block_bytes + (((size_t)pass * block_bytes) >> shift) : NULL;
        float acc[PACK_ROWS / 2][16];
        memset(acc, 0, sizeof acc);
        for (int s0 = 0; s0 < K; s0 += S) {
            const uint16_t* ws = wb + (size_t)s0 * PACK_ROWS;
            const uint16_t* xm = x + (size_t)m0 * K + s0;
            for (int p = 0; p < PACK_ROWS / 2; p++) {
                const uint16_t* g = ws + (size_t)p * 2 * S;
                const size_t at = (size_t)(g - wb) * 2;
                switch (mm) {
                    case 8: pair_dot_8(g, xm, S, K, ahead, next, at, shift, acc[p]); break;
                    case 4: pair_dot_4(g, xm, S, K, ahead, next, at, shift, acc[p]); break;
                    case 2: pair_dot_2(g, xm, S, K, ahead, next, at, shift, acc[p]); break;
                    default: pair_dot_1(g, xm, S, K, ahead, next, at, shift, acc[p]); break;
                }
            }
        }
        for (int m = 0; m < mm; m++)
            for (int p = 0; p < PACK_ROWS / 2; p++) {
                sums[m0 + m][2 * p] = acc[p][m];
                sums[m0 + m][2 * p + 1] = acc[p][8 + m];
            }
        m0 += mm;
    }
    for (int m = 0; m < M; m++)
        for (int r = 0; r < PACK_ROWS; r += 16) store(mode, y, (size_t)m * ldy + n0 + r, sums[m] + r, 16);
}

/* Weight rows per unit of matvec's static schedule, and where weight row n (a multiple of
   PACK_ROWS) starts: where it starts in the plain layout. */
static inline int matvec_rows(int M) { (void)M; return PACK_ROWS; }
static inline const char* matvec_row_address(const void* w, int N, int K, size_t n) {
    (void)N;
    return (const char*)w + n * (size_t)K * 2;
}

/* This thread's share of y (M rows, leading dimension ldy) = x (M, K) @ w (N, K)^T, w packed
   as above; inside a parallel region, no barrier at the end. */
static void matvec(const uint16_t* w, const uint16_t* x, void* y, int ldy, int M, int N, int K, int mode) {
    #pragma omp for schedule(static) nowait
    for (int b = 0; b < N / PACK_ROWS; b++) packed_block(w, x, y, ldy, M, K, b * PACK_ROWS, mode);
}

#endif
