/*
 * ReLU's gradient in one pass over the wasm heap. tfjs computes it as dy * cast(step(x)): a Step pass, then a
 * Multiply pass, each reading and writing a full activation; every conv and dense ReLU layer runs it in every
 * training step. Here it is the same product, element by element (step(x) is 1 for x > 0, NaN for NaN, else
 * 0, and dy is multiplied by it), so the result is tfjs's: dy where x > 0, a signed zero elsewhere, and NaN
 * where either is NaN or an infinite dy meets a 0.
 */
#include <math.h>
#include <stdint.h>
#include "activation-grad.h"
#include "napi-args.h"

/* reluGrad(heap, dyOffset, xOffset, count, outOffset): out[i] = dy[i] * step(x[i]) (float offsets). */
napi_value relu_grad(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  float *heap;
  size_t floats;
  int64_t dyo, xo, count, oo;
  if (!get_args(env, info, 5, argv) || !get_heap(env, argv[0], &heap, &floats) || !get_i64(env, argv[1], &dyo) ||
      !get_i64(env, argv[2], &xo) || !get_i64(env, argv[3], &count) || !get_i64(env, argv[4], &oo))
    return NULL;
  if (!in_range(env, "reluGrad", "count", count, 0, INT64_MAX) || !in_heap(env, "reluGrad", "dyOffset", dyo, count, floats) ||
      !in_heap(env, "reluGrad", "xOffset", xo, count, floats) || !in_heap(env, "reluGrad", "outOffset", oo, count, floats))
    return NULL;
  const float *dy = heap + dyo, *x = heap + xo;
  float *out = heap + oo;
  for (int64_t i = 0; i < count; i++) {
    const float xi = x[i];
    const float step = xi > 0 ? 1.0f : (xi != xi ? NAN : 0.0f);
    out[i] = dy[i] * step;
  }
  return NULL;
}
