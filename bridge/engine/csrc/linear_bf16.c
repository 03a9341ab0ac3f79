/* One bf16 product per call (the fast decoder's eager step and its prefill of few rows). */
#include "bf16_matvec.h"

/* y (M, N) = x (M, K) @ w (N, K)^T, all bf16, row-major; M in 1..MAX_ROWS, K % 32 == 0, N % 16 == 0. */
void linear_bf16(const uint16_t* w, const uint16_t* x, uint16_t* y, int M, int N, int K) {
    int R = block_rows(M);
    int blocks = N / R;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < blocks; b++) block(w, x, y, N, M, K, b * R, STORE_BF16);
}

/* The same for `count` matrices that share the input (q/k/v, the codebook heads): one parallel
   region, each thread streaming its share of every matrix in turn, no barrier in between. */
void linear_many_bf16(int count, const uint16_t* const* ws, uint16_t* const* ys, const int* ns,
                      const uint16_t* x, int M, int K) {
    int R = block_rows(M);
    #pragma omp parallel
    for (int c = 0; c < count; c++) {
        int blocks = ns[c] / R;
        #pragma omp for schedule(static) nowait
        for (int b = 0; b < blocks; b++) block(ws[c], x, ys[c], ns[c], M, K, b * R, STORE_BF16);
    }
}
