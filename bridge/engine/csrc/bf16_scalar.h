/* What every C step shares, whatever its instruction set: bf16 <-> fp32 for one value, rounding
   as torch does, and the ways a product's sums are stored (bf16_matvec.h, fp32_vec.h). */
#ifndef BF16_SCALAR_H
#define BF16_SCALAR_H

#include <stdint.h>
#include <string.h>

static inline uint16_t to_bf16(float f) {            /* round to nearest even, as torch does */
    uint32_t u; memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4);
    return f;
}

/* How a block's sums are stored; each first rounds the sum to bf16, as torch's bf16 linear. */
enum {
    STORE_BF16 = 0,  /* y = s                                              (uint16_t* y) */
    STORE_ADD = 1,   /* y = y + s, rounded: a residual add after the product (uint16_t* y) */
    STORE_GELU = 2,  /* y = gelu(s), rounded (exact erf GELU, as torch's)  (uint16_t* y) */
    STORE_F32 = 3    /* y = s as fp32 (logits)                              (float* y)    */
};

#endif
