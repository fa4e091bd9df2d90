/*
 * A bias added along the trailing axes, in place on the wasm heap: every conv and dense layer adds its bias
 * this way while training (tfjs fuses it into the layer only outside gradients), and the wasm backend's Add
 * takes a general broadcasting path for it.
 */
#include <stdint.h>
#include "elementwise.h"
#include "napi-args.h"

/* biasAdd(heap, xOffset, count, biasOffset, biasSize, outOffset): out[i] = x[i] + bias[i % biasSize] (float offsets). */
napi_value bias_add(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  float *heap;
  size_t floats;
  int64_t xo, count, bo, size, oo;
  if (!get_args(env, info, 6, argv) || !get_heap(env, argv[0], &heap, &floats) || !get_i64(env, argv[1], &xo) ||
      !get_i64(env, argv[2], &count) || !get_i64(env, argv[3], &bo) || !get_i64(env, argv[4], &size) || !get_i64(env, argv[5], &oo))
    return NULL;
  if (!in_range(env, "biasAdd", "count", count, 0, INT64_MAX) || !in_range(env, "biasAdd", "biasSize", size, 1, INT64_MAX)) return NULL;
  CHECK(env, count % size == 0, "tfjs-distill native: biasAdd biasSize must divide count");
  if (!in_heap(env, "biasAdd", "xOffset", xo, count, floats) || !in_heap(env, "biasAdd", "biasOffset", bo, size, floats) ||
      !in_heap(env, "biasAdd", "outOffset", oo, count, floats))
    return NULL;
  const float *x = heap + xo, *bias = heap + bo;
  float *out = heap + oo;
  for (int64_t start = 0; start < count; start += size) {
    const float *row = x + start;
    float *to = out + start;
    for (int64_t j = 0; j < size; j++) to[j] = row[j] + bias[j];
  }
  return NULL;
}
