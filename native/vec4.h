/*
 * Four floats and four int32 masks, in GCC and Clang vector extensions (SSE on x86-64, NEON on arm64), for
 * loops the compiler leaves scalar: it keeps a float select (`a > b ? a : b`) as a branch, since comparisons
 * may trap, where a vector compare gives a mask to select with.
 */
#ifndef TFJS_DISTILL_VEC4_H
#define TFJS_DISTILL_VEC4_H
#include <stdint.h>
#include <string.h>

typedef float f4 __attribute__((vector_size(16)));
typedef int32_t i4 __attribute__((vector_size(16)));

static inline f4 load4(const float *p) {
  f4 v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void store4(float *p, f4 v) { memcpy(p, &v, sizeof v); }

/* The float of each lane where `mask` is set, else 0. */
static inline f4 keep4(f4 v, i4 mask) { return (f4)((i4)v & mask); }
/* a where `mask` is set, else b. */
static inline f4 select4(i4 mask, f4 a, f4 b) { return (f4)(((i4)a & mask) | ((i4)b & ~mask)); }
#endif
