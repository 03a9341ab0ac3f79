/* One bf16 product per call (the fast decoder's eager step and its prefill of few rows). */
#include "bf16_matvec.h"

#ifdef BF16_HAVE_AMX
#include <sys/syscall.h>
#include <unistd.h>

int bf16_amx_state = 0;

/* Ask Linux for the AMX tile state (once per process; arch_prctl ARCH_REQ_XCOMP_PERM for
   XFEATURE_XTILEDATA) and use AMX when granted and `on`. Returns whether AMX is in use. */
int bf16_amx_enable(int on) {
    static int granted = -1;
    if (granted < 0) granted = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
    bf16_amx_state = on && granted ? 1 : -1;
    return bf16_amx_state == 1;
}

/* Whether products of 3-16 rows use AMX now. */
int bf16_amx_in_use(void) { return bf16_amx_state == 1; }
#else
int bf16_amx_enable(int on) { (void)on; return 0; }
int bf16_amx_in_use(void) { return 0; }
#endif

/* y (M, N) = x (M, K) @ w (N, K)^T, all bf16, row-major; M in 1..MAX_ROWS, K % 32 == 0, N % 16 == 0. */
void linear_bf16(const uint16_t* w, const uint16_t* x, uint16_t* y, int M, int N, int K) {
    #pragma omp parallel
    matvec(w, x, y, N, M, N, K, STORE_BF16);
}

/* The same for `count` matrices that share the input (q/k/v, the codebook heads): one parallel
   region, each thread streaming its share of every matrix in turn, no barrier in between. */
void linear_many_bf16(int count, const uint16_t* const* ws, uint16_t* const* ys, const int* ns,
                      const uint16_t* x, int M, int K) {
    #pragma omp parallel
    for (int c = 0; c < count; c++) matvec(ws[c], x, ys[c], ns[c], M, ns[c], K, STORE_BF16);
}
