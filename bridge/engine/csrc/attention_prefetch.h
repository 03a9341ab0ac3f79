/* Prefetching for the decoding steps' attention (decoder_step_bf16.c, decoder_step_f32.c and
   the task loops of decoder_step_body.h).

   Attention reads each (row, head)'s keys and values as two short streams of their own (T
   positions of HD values each, in a cache of max_pos positions), one task after another: each
   stream starts cold, and the first positions of a task came at memory latency, one line after
   another (with 8 variations, 256 tasks a layer: self-attention took 4.4-5.3 ms a step at 25
   positions where its reads need about 1; docs/performance.md, "Attention"). So while a task
   runs, the task loop prefetches into L2 the next task's first ATTEND_WARM_POSITIONS positions
   of keys and values, and the lines its new key and value will be written to; attend
   prefetches the later positions (keys and values) as it reads the keys. Prefetches past a
   task's last position are never made: with few positions they were most of its reads.
   -DATTEND_PREFETCH=0 leaves out the next task's and the values' prefetches (bench/step_ab.py
   --also). Why by hand: part of the C step (decoder_step_bf16.c). */
#ifndef ATTENTION_PREFETCH_H
#define ATTENTION_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#ifndef ATTEND_PREFETCH
#define ATTEND_PREFETCH 1
#endif
#define ATTEND_WARM_POSITIONS 32
#ifndef ATTEND_AHEAD
#define ATTEND_AHEAD 32             /* positions attend prefetches ahead (16-128: no difference) */
#endif

/* Prefetch the start of a task's keys and values (T positions of HD), and with write >= 0 the
   position it writes. */
static inline void warm_head(const uint16_t* keys, const uint16_t* values, int T, int HD, int write) {
    if (!ATTEND_PREFETCH) return;
    const size_t bytes = (size_t)(T < ATTEND_WARM_POSITIONS ? T : ATTEND_WARM_POSITIONS) * HD * 2;
    for (size_t b = 0; b < bytes; b += 64) {
        __builtin_prefetch((const char*)keys + b, 0, 2);
        __builtin_prefetch((const char*)values + b, 0, 2);
    }
    if (write >= 0)
        for (size_t b = 0; b < (size_t)HD * 2; b += 64) {
            __builtin_prefetch((const char*)(keys + (size_t)write * HD) + b, 1, 2);
            __builtin_prefetch((const char*)(values + (size_t)write * HD) + b, 1, 2);
        }
}

/* While attend reads position t of T: the key ATTEND_AHEAD positions on (into L1) and, with
   ATTEND_PREFETCH, the value there too (into L2, for attend's later pass over the values);
   nothing past the last position. */
static inline void prefetch_ahead_of_keys(const uint16_t* keys, const uint16_t* values, int t, int T, int HD) {
    if (t + ATTEND_AHEAD >= T) return;
    const size_t at = (size_t)(t + ATTEND_AHEAD) * HD;
    for (int c = 0; c < HD * 2; c += 64) {
        __builtin_prefetch((const char*)(keys + at) + c, 0, 3);
        if (ATTEND_PREFETCH) __builtin_prefetch((const char*)(values + at) + c, 0, 2);
    }
}

/* While attend's pass over the values reads position t of T: the value ATTEND_AHEAD positions
   on, into L1; nothing past the last position. */
static inline void prefetch_ahead_of_values(const uint16_t* values, int t, int T, int HD) {
    if (t + ATTEND_AHEAD >= T) return;
    for (int c = 0; c < HD * 2; c += 64)
        __builtin_prefetch((const char*)(values + (size_t)(t + ATTEND_AHEAD) * HD) + c, 0, 3);
}

#endif
