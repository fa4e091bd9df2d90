/*
 * The fused exchange of a training step: one pass over a rank's chunk of the parameters that averages the
 * ranks' gradients (weightedSum's arithmetic) and applies the optimizer in place (adam / momentum / sgd's,
 * after a decoupled weight decay), the mean never written to memory; and the copy of a gradient into its
 * exchange slot that also tells whether every value is within a bound, which is what lets the exchange run
 * the fused pass (a mean of values within half the float range is finite). Each value is computed exactly
 * as weightedSum followed by the separate update loops (native/exchange.c) compute it: float32 throughout.
 */
#include <stdint.h>
#include <string.h>
#include "averaged-update.h"
#include "napi-args.h"

/*
 * The loops are compiled twice where the compiler can pick at load time (GCC's target_clones, on Linux
 * x86-64): for AVX2, which the addon's baseline build (SSE2) leaves out and which doubles the width of
 * Adam's square roots and divisions, and for the baseline. Neither uses FMA, so both round as exchange.c.
 */
#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__)
#define WIDE_LOOP __attribute__((noinline, target_clones("avx2", "default")))
#else
#define WIDE_LOOP __attribute__((noinline))
#endif

/* Elements per block: the block's mean stays in L1 between the average and the update. */
#define BLOCK 512

enum rule { SGD = 0, MOMENTUM = 1, ADAM = 2 };
/* Per rule: state vectors (weights included) and scalars after the decay factor. */
static const int VECTORS[] = {1, 2, 3};
static const int SCALARS[] = {1, 2, 5};

/* g[0, n) = the weighted mean at i0, i0 + n: weightedSum's loops, ranks in order, ranks with share 0 skipped. */
WIDE_LOOP static void block_mean(const float *slots, int64_t stride, const double *shares, size_t ranks, int64_t i0, int64_t n,
                              float *restrict g) {
  int written = 0;
  for (size_t r = 0; r < ranks; r++) {
    const float share = (float)shares[r];
    if (share == 0) continue;
    const float *restrict slot = slots + r * stride + i0;
    if (written)
      for (int64_t i = 0; i < n; i++) g[i] += share * slot[i];
    else
      for (int64_t i = 0; i < n; i++) g[i] = share * slot[i];
    written = 1;
  }
  if (!written) memset(g, 0, sizeof(float) * n);
}

/*
 * The update loops of exchange.c on one block, the weights read from `wIn` (their copy, decayed or not).
 * Not inlined: inlined, their restrict pointers no longer let the compiler vectorise them.
 */
WIDE_LOOP static void sgd_block(int64_t n, const float *restrict wIn, float *restrict w, const float *restrict g, const double *k) {
  const float lr = (float)k[0];
  for (int64_t i = 0; i < n; i++) w[i] = wIn[i] - lr * g[i];
}

WIDE_LOOP static void momentum_block(int64_t n, const float *restrict wIn, float *restrict w, float *restrict a, const float *restrict g, const double *k) {
  const float lr = (float)k[0], mu = (float)k[1];
  for (int64_t i = 0; i < n; i++) {
    const float ai = mu * a[i] + g[i];
    a[i] = ai;
    w[i] = wIn[i] - lr * ai;
  }
}

WIDE_LOOP static void adam_block(int64_t n, const float *restrict wIn, float *restrict w, float *restrict m, float *restrict v, const float *restrict g,
                       const double *k) {
  const float step = (float)k[0], rc = (float)k[1], b1 = (float)k[2], b2 = (float)k[3], eps = (float)k[4];
  /* 1 - beta in double, as exchange.c's adam takes it. */
  const float c1 = (float)(1 - k[2]), c2 = (float)(1 - k[3]);
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = wIn[i] - step * mi / (sqrtf(vi) * rc + eps);
  }
}

/*
 * The update of one block of `state` (weights, then the rule's slots) in place, the mean in g. The weights
 * are read from a copy in `weights` (in L1: the loops then read and write distinct arrays, which the
 * compiler vectorises), decayed on the way with a decay (the JavaScript decay's rounding: the product in
 * double, stored as float).
 */
static void block_update(enum rule rule, float *const *state, int64_t i0, int64_t n, const float *g, double decay, float *weights,
                         const double *k) {
  float *w = state[0] + i0;
  if (decay != 1)
    for (int64_t i = 0; i < n; i++) weights[i] = (float)(w[i] * decay);
  else
    memcpy(weights, w, sizeof(float) * n);
  const float *wIn = weights;
  switch (rule) {
    case SGD:
      sgd_block(n, wIn, w, g, k);
      return;
    case MOMENTUM:
      momentum_block(n, wIn, w, state[1] + i0, g, k);
      return;
    case ADAM:
      adam_block(n, wIn, w, state[1] + i0, state[2] + i0, g, k);
      return;
  }
}

/*
 * averagedUpdate(rule, slots, stride, shares, lo, hi, state, decay, scalars), for i in [lo, hi):
 * g = sum_r shares[r] * slots[r * stride + i] (as weightedSum), then the rule's update of `state` in place,
 * the weights first decayed: w = (float)(w * decay). `state` is an array of the rule's Float32Arrays
 * (weights, then its slots); scalars: sgd [lr], momentum [lr, momentum], adam [stepSize, rootCorrection2,
 * beta1, beta2, epsilon].
 */
napi_value averaged_update(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  float *slots, *state[3];
  double *shares, *k, decay;
  size_t slotFloats, ranks, scalars, shortest = SIZE_MAX;
  uint32_t count;
  int64_t rule = 0, stride = 0, lo = 0, hi = 0;
  if (!get_args(env, info, 9, argv) || !get_i64(env, argv[0], &rule) || !in_range(env, "averagedUpdate", "rule", rule, SGD, ADAM) ||
      !get_f32_array(env, argv[1], &slots, &slotFloats) || !get_i64(env, argv[2], &stride) ||
      !get_f64_array(env, argv[3], &shares, &ranks) || !get_i64(env, argv[4], &lo) || !get_i64(env, argv[5], &hi) ||
      !get_f64(env, argv[7], &decay) || !get_f64_array(env, argv[8], &k, &scalars))
    return NULL;
  if (napi_get_array_length(env, argv[6], &count) != napi_ok || count != (uint32_t)VECTORS[rule]) {
    fail(env, "tfjs-distill native: averagedUpdate state must be an array of %d Float32Arrays", VECTORS[rule]);
    return NULL;
  }
  for (uint32_t v = 0; v < count; v++) {
    napi_value element;
    size_t length;
    if (napi_get_element(env, argv[6], v, &element) != napi_ok || !get_f32_array(env, element, &state[v], &length)) return NULL;
    if (length < shortest) shortest = length;
  }
  if (scalars != (size_t)SCALARS[rule]) {
    fail(env, "tfjs-distill native: averagedUpdate rule %lld takes %d scalars, got %zu", (long long)rule, SCALARS[rule], scalars);
    return NULL;
  }
  if (!(lo >= 0 && lo <= hi && (uint64_t)hi <= shortest) || stride < (hi > 1 ? hi : 1) || (uint64_t)stride > slotFloats ||
      ranks > slotFloats / (uint64_t)stride) {
    fail(env, "tfjs-distill native: averagedUpdate range [%lld, %lld) or stride %lld outside the state (%zu floats) or slots (%zu floats)",
         (long long)lo, (long long)hi, (long long)stride, shortest, slotFloats);
    return NULL;
  }
  float g[BLOCK], weights[BLOCK];
  for (int64_t i0 = lo; i0 < hi; i0 += BLOCK) {
    const int64_t n = hi - i0 < BLOCK ? hi - i0 : BLOCK;
    block_mean(slots, stride, shares, ranks, i0, n, g);
    block_update((enum rule)rule, state, i0, n, g, decay, weights, k);
  }
  return NULL;
}

/* to[i] = from[i]; returns whether every |from[i]| <= bound (false for NaN and the infinities). */
WIDE_LOOP static int32_t copy_within(const float *restrict from, float *restrict to, size_t n, float bound) {
  int32_t inside = 1;
  for (size_t i = 0; i < n; i++) {
    to[i] = from[i];
    inside &= fabsf(from[i]) <= bound;
  }
  return inside;
}

/*
 * copyBounded(source, target, offset, limit) -> boolean: target[offset + i] = source[i] for every i, and
 * whether every |source[i]| <= limit (false for NaN and the infinities).
 */
napi_value copy_bounded(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  float *source, *target;
  size_t sourceFloats, targetFloats;
  int64_t offset = 0;
  double limit;
  if (!get_args(env, info, 4, argv) || !get_f32_array(env, argv[0], &source, &sourceFloats) ||
      !get_f32_array(env, argv[1], &target, &targetFloats) || !get_i64(env, argv[2], &offset) || !get_f64(env, argv[3], &limit))
    return NULL;
  if (sourceFloats > targetFloats) {
    fail(env, "tfjs-distill native: copyBounded source of %zu floats longer than the target of %zu", sourceFloats, targetFloats);
    return NULL;
  }
  if (!in_range(env, "copyBounded", "offset", offset, 0, (int64_t)(targetFloats - sourceFloats))) return NULL;
  const int32_t inside = copy_within(source, target + offset, sourceFloats, (float)limit);
  napi_value result;
  napi_get_boolean(env, inside, &result);
  return result;
}
