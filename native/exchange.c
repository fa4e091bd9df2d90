/*
 * The element-wise loops of a data-parallel training step, on Float32Arrays in shared memory: the
 * weighted mean of the ranks' gradients (with a finiteness check) and the optimizer updates. They are
 * memory-bound passes over every parameter; in C, vectorised, they take a fraction of the time the same
 * loops take in JavaScript (src/kernels/exchange-loops.ts has both, and says which runs).
 * Arithmetic is float32 throughout, element by element, so the result does not depend on how the vector
 * is split into chunks (the worker count).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "exchange.h"
#include "napi-args.h"

/* Reads argv[0] and argv[1] as a range [lo, hi) that must lie inside `length` values. */
static int get_range(napi_env env, const char *fn, napi_value *argv, size_t length, int64_t *lo, int64_t *hi) {
  if (!get_i64(env, argv[0], lo) || !get_i64(env, argv[1], hi)) return 0;
  if (*lo >= 0 && *lo <= *hi && (uint64_t)*hi <= length) return 1;
  return fail(env, "tfjs-distill native: %s lo %lld, hi %lld: range outside the array; it must have 0 <= lo <= hi <= %zu", fn,
              (long long)*lo, (long long)*hi, length);
}

/* 1 when the float's exponent bits are all set: Infinity or NaN. */
static inline int32_t non_finite(float x) {
  uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  return (bits & 0x7f800000u) == 0x7f800000u;
}

/*
 * weightedSum(slots, stride, shares, lo, hi, out) -> boolean: out[i] = sum_r shares[r] * slots[r*stride + i]
 * for i in [lo, hi), ranks in order (ranks with share 0 skipped; out is zeros when all are). Returns
 * whether every out[i] is finite.
 */
napi_value weighted_sum(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  float *slots, *out;
  double *shares;
  size_t slotFloats, ranks, outFloats;
  int64_t stride, lo, hi;
  if (!get_args(env, info, 6, argv) || !get_f32_array(env, argv[0], &slots, &slotFloats) || !get_i64(env, argv[1], &stride) ||
      !get_f64_array(env, argv[2], &shares, &ranks) || !get_f32_array(env, argv[5], &out, &outFloats) ||
      !get_range(env, "weightedSum", argv + 3, outFloats, &lo, &hi) ||
      !in_range(env, "weightedSum", "stride", stride, hi > 1 ? hi : 1, INT64_MAX))
    return NULL;
  if ((uint64_t)stride > slotFloats || ranks > slotFloats / (uint64_t)stride) {
    fail(env, "tfjs-distill native: weightedSum slots smaller than ranks x stride (%zu floats < %zu x %lld)", slotFloats, ranks,
         (long long)stride);
    return NULL;
  }
  int written = 0;
  for (size_t r = 0; r < ranks; r++) {
    const float share = (float)shares[r];
    if (share == 0) continue;
    const float *slot = slots + r * stride;
    if (written)
      for (int64_t i = lo; i < hi; i++) out[i] += share * slot[i];
    else
      for (int64_t i = lo; i < hi; i++) out[i] = share * slot[i];
    written = 1;
  }
  if (!written) memset(out + lo, 0, sizeof(float) * (hi - lo));
  int32_t bad = 0;
  for (int64_t i = lo; i < hi; i++) bad |= non_finite(out[i]);
  napi_value result;
  napi_get_boolean(env, bad == 0, &result);
  return result;
}

/* allFinite(values, lo, hi) -> boolean: whether every values[i], i in [lo, hi), is finite. */
napi_value all_finite(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  float *values;
  size_t floats;
  int64_t lo, hi;
  if (!get_args(env, info, 3, argv) || !get_f32_array(env, argv[0], &values, &floats) || !get_range(env, "allFinite", argv + 1, floats, &lo, &hi))
    return NULL;
  int32_t bad = 0;
  for (int64_t i = lo; i < hi; i++) bad |= non_finite(values[i]);
  napi_value result;
  napi_get_boolean(env, bad == 0, &result);
  return result;
}

/*
 * The arguments of an optimizer update: `vectors` Float32Arrays, then a range [lo, hi) inside all of them,
 * then `scalars` numbers.
 */
static int get_update_args(napi_env env, napi_callback_info info, const char *fn, size_t vectors, size_t scalars, float **x,
                           int64_t *lo, int64_t *hi, double *values) {
  napi_value argv[16];
  const size_t count = vectors + 2 + scalars;
  if (count > sizeof argv / sizeof *argv || !get_args(env, info, count, argv)) return 0;
  size_t shortest = SIZE_MAX;
  for (size_t i = 0; i < vectors; i++) {
    size_t length;
    if (!get_f32_array(env, argv[i], &x[i], &length)) return 0;
    if (length < shortest) shortest = length;
  }
  if (!get_range(env, fn, argv + vectors, shortest, lo, hi)) return 0;
  for (size_t i = 0; i < scalars; i++) {
    if (!get_f64(env, argv[vectors + 2 + i], &values[i])) return 0;
  }
  return 1;
}

/*
 * adam(w, m, v, g, lo, hi, stepSize, rootCorrection2, beta1, beta2, epsilon), for i in [lo, hi):
 * m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2; w -= stepSize m / (sqrt(v) rootCorrection2 + epsilon)
 * (stepSize = lr / (1 - beta1^t), rootCorrection2 = 1 / sqrt(1 - beta2^t): tfjs's Adam, corrections hoisted).
 */
napi_value adam(napi_env env, napi_callback_info info) {
  float *x[4];
  int64_t lo, hi;
  double k[5];
  if (!get_update_args(env, info, "adam", 4, 5, x, &lo, &hi, k)) return NULL;
  const double step = k[0], rc = k[1], b1 = k[2], b2 = k[3], eps = k[4];
  float *restrict w = x[0], *restrict m = x[1], *restrict v = x[2];
  const float *restrict g = x[3];
  /* 1 - beta taken in double: 1 - 0.999f would be 0.00099998713 and shift v by 1e-5. */
  const float fs = (float)step, fr = (float)rc, f1 = (float)b1, f2 = (float)b2, fe = (float)eps;
  const float c1 = (float)(1 - b1), c2 = (float)(1 - b2);
  for (int64_t i = lo; i < hi; i++) {
    const float gi = g[i];
    const float mi = f1 * m[i] + c1 * gi;
    const float vi = f2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] -= fs * mi / (sqrtf(vi) * fr + fe);
  }
  return NULL;
}

/* momentum(w, accumulation, g, lo, hi, lr, momentum): a = momentum a + g; w -= lr a (tfjs's, without Nesterov). */
napi_value momentum(napi_env env, napi_callback_info info) {
  float *x[3];
  int64_t lo, hi;
  double k[2];
  if (!get_update_args(env, info, "momentum", 3, 2, x, &lo, &hi, k)) return NULL;
  const double lr = k[0], mu = k[1];
  float *restrict w = x[0], *restrict a = x[1];
  const float *restrict g = x[2];
  const float flr = (float)lr, fmu = (float)mu;
  for (int64_t i = lo; i < hi; i++) {
    const float ai = fmu * a[i] + g[i];
    a[i] = ai;
    w[i] -= flr * ai;
  }
  return NULL;
}

/* sgd(w, g, lo, hi, lr): w -= lr g. */
napi_value sgd(napi_env env, napi_callback_info info) {
  float *x[2];
  int64_t lo, hi;
  double lr;
  if (!get_update_args(env, info, "sgd", 2, 1, x, &lo, &hi, &lr)) return NULL;
  float *restrict w = x[0];
  const float *restrict g = x[1];
  const float flr = (float)lr;
  for (int64_t i = lo; i < hi; i++) w[i] -= flr * g[i];
  return NULL;
}
