/* Range checks shared by the training loops that take Float32Arrays (dense-chain.c, token-conv.c). */
#ifndef TFJS_DISTILL_SPANS_H
#define TFJS_DISTILL_SPANS_H
#include <stdint.h>
#include "napi-args.h"

/* `count` values from `offset` of argument `name` lie within its `floats`. */
static inline int in_array(napi_env env, const char *fn, const char *name, int64_t offset, int64_t count, size_t floats) {
  if (offset >= 0 && (uint64_t)count <= floats && (uint64_t)offset <= floats - (uint64_t)count) return 1;
  return fail(env, "tfjs-distill native: %s %s %lld: %lld values there lie outside the array of %zu", fn, name, (long long)offset,
              (long long)count, floats);
}

/* A range of floats a call reads or writes. */
typedef struct {
  const float *start;
  int64_t count;
  const char *name;
  int written;
} span;

static inline int overlap(const span *a, const span *b) {
  const uintptr_t a_start = (uintptr_t)a->start, b_start = (uintptr_t)b->start;
  return a->count > 0 && b->count > 0 && a_start < b_start + sizeof(float) * (uint64_t)b->count &&
         b_start < a_start + sizeof(float) * (uint64_t)a->count;
}

/* Fails when a range the call writes overlaps another it reads or writes: the loops read while they write. */
static inline int disjoint(napi_env env, const char *fn, const span *spans, int n) {
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if ((spans[i].written || spans[j].written) && overlap(&spans[i], &spans[j]))
        return fail(env, "tfjs-distill native: %s %s and %s overlap; pass arrays that share no values", fn, spans[i].name, spans[j].name);
  return 1;
}

static inline napi_value boolean_value(napi_env env, int value) {
  napi_value out;
  napi_get_boolean(env, value, &out);
  return out;
}

#endif
