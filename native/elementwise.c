/*
 * A bias added along the trailing axes, in place on the wasm heap: every conv and dense layer adds its bias
 * this way while training (tfjs fuses it into the layer only outside gradients), and the wasm backend's Add
 * takes a general broadcasting path for it. And Equal, broadcast by strides: the gradient of a max over an
 * axis compares the input with its broadcast maximum, where the wasm backend builds index vectors per element.
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

/*
 * equalBroadcast(heap, aOffset, bOffset, outByteOffset, geometry): out[i] = (a == b) as bytes 0/1, broadcast as
 * in TensorFlow: geometry is Int32Array [rank, shape[rank], aStrides[rank], bStrides[rank]] (stride 0 where an
 * operand broadcasts; float offsets for a and b, a byte offset for the bool output). NaN equals nothing.
 */
napi_value equal_broadcast(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  float *heap;
  size_t floats;
  int64_t ao, bo, oo;
  int32_t *g;
  size_t glen;
  if (!get_args(env, info, 5, argv) || !get_heap(env, argv[0], &heap, &floats) || !get_i64(env, argv[1], &ao) ||
      !get_i64(env, argv[2], &bo) || !get_i64(env, argv[3], &oo) || !get_i32_array(env, argv[4], &g, &glen))
    return NULL;
  CHECK(env, glen >= 1, "tfjs-distill native: equalBroadcast geometry is empty");
  const int64_t rank = g[0];
  if (!in_range(env, "equalBroadcast", "rank", rank, 1, EQUAL_MAX_RANK)) return NULL;
  CHECK(env, glen == (size_t)(1 + 3 * rank), "tfjs-distill native: equalBroadcast geometry must hold 1 + 3 x rank values");
  const int32_t *shape = g + 1, *as = g + 1 + rank, *bs = g + 1 + 2 * rank;
  int64_t size = 1, aLast = 0, bLast = 0;
  for (int64_t d = 0; d < rank; d++) {
    if (!in_range(env, "equalBroadcast", "shape", shape[d], 0, INT32_MAX) || !in_range(env, "equalBroadcast", "a stride", as[d], 0, INT32_MAX) ||
        !in_range(env, "equalBroadcast", "b stride", bs[d], 0, INT32_MAX) ||
        !size_product(env, "equalBroadcast", "shape", size, shape[d], &size))
      return NULL;
    if (shape[d] > 0) {
      aLast += (int64_t)(shape[d] - 1) * as[d];
      bLast += (int64_t)(shape[d] - 1) * bs[d];
    }
  }
  if (size == 0) return NULL;
  if (!in_heap(env, "equalBroadcast", "aOffset", ao, aLast + 1, floats) || !in_heap(env, "equalBroadcast", "bOffset", bo, bLast + 1, floats))
    return NULL;
  const int64_t bytes = (int64_t)floats * 4;
  if (oo < 0 || size > bytes || oo > bytes - size) {
    fail(env, "tfjs-distill native: equalBroadcast outByteOffset is %lld, so %lld bytes there lie outside the wasm heap of %lld bytes",
         (long long)oo, (long long)size, (long long)bytes);
    return NULL;
  }
  const float *a = heap + ao, *b = heap + bo;
  uint8_t *out = (uint8_t *)heap + oo;
  const int64_t inner = shape[rank - 1], aStep = as[rank - 1], bStep = bs[rank - 1];
  int64_t position[EQUAL_MAX_RANK] = {0}, aStart = 0, bStart = 0;
  for (int64_t to = 0; to < size; to += inner) {
    const float *ar = a + aStart, *br = b + bStart;
    for (int64_t j = 0; j < inner; j++) out[to + j] = ar[j * aStep] == br[j * bStep];
    for (int64_t d = rank - 2; d >= 0; d--) { /* the next row: an odometer over the axes before the last */
      aStart += as[d];
      bStart += bs[d];
      if (++position[d] < shape[d]) break;
      aStart -= (int64_t)as[d] * shape[d];
      bStart -= (int64_t)bs[d] * shape[d];
      position[d] = 0;
    }
  }
  return NULL;
}
