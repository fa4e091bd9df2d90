/*
 * Two reductions that training runs on every step, in place on the wasm heap:
 * - the gradient of a 2-D max pool (NHWC): each dy value goes to the input position that holds its
 *   window's maximum, the first in row-major order on ties, as tfjs's cpu backend does
 *   (src/kernels/wasm/max-pool-grad.ts has the same loop in JavaScript for the wasm kernel set);
 * - a sum over the leading axes, which is every bias gradient (dy [N, H, W, C] summed to [C]): one pass
 *   in double, where the wasm backend's own Sum first transposes the whole tensor.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "napi-args.h"
#include "reductions.h"

/*
 * maxPoolGrad(heap, xOffset, dyOffset, dxOffset, geometry Int32Array[12]): dx = the gradient for input x of
 * a max pool whose output gradient is dy; geometry is [batch, inHeight, inWidth, channels, outHeight,
 * outWidth, strideHeight, strideWidth, filterHeight, filterWidth, padTop, padLeft] (float offsets).
 */
napi_value max_pool_grad(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  float *heap;
  size_t floats, length;
  int64_t xo, dyo, dxo;
  int32_t *p;
  if (!get_args(env, info, 5, argv) || !get_heap(env, argv[0], &heap, &floats) || !get_i64(env, argv[1], &xo) ||
      !get_i64(env, argv[2], &dyo) || !get_i64(env, argv[3], &dxo) || !get_i32_array(env, argv[4], &p, &length))
    return NULL;
  CHECK(env, length == 12, "tfjs-distill native: max pool geometry needs 12 numbers");
  static const char *const names[12] = {"batch",     "inHeight",    "inWidth",      "channels",     "outHeight",   "outWidth",
                                         "strideHeight", "strideWidth", "filterHeight", "filterWidth", "padTop",      "padLeft"};
  static const int32_t minimum[12] = {0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0};
  if (!check_geometry(env, "maxPoolGrad", p, names, minimum, 12)) return NULL;
  const int64_t n = p[0], h = p[1], w = p[2], c = p[3], oh = p[4], ow = p[5], sh = p[6], sw = p[7], fh = p[8], fw = p[9],
                top = p[10], left = p[11];
  int64_t inputs, outputs;
  if (!size_product(env, "maxPoolGrad", "x size", n * h, w * c, &inputs) ||
      !size_product(env, "maxPoolGrad", "dy size", n * oh, ow * c, &outputs) ||
      !in_heap(env, "maxPoolGrad", "xOffset", xo, inputs, floats) ||
      !in_heap(env, "maxPoolGrad", "dxOffset", dxo, inputs, floats) || !in_heap(env, "maxPoolGrad", "dyOffset", dyo, outputs, floats))
    return NULL;
  const float *x = heap + xo, *dy = heap + dyo;
  float *dx = heap + dxo;
  memset(dx, 0, sizeof(float) * inputs);
  float *best = malloc(sizeof(float) * c);
  int64_t *at = malloc(sizeof(int64_t) * c);
  if (best == NULL || at == NULL) {
    free(best);
    free(at);
    napi_throw_error(env, NULL, "tfjs-distill native: out of memory");
    return NULL;
  }
  for (int64_t b = 0; b < n; b++) {
    for (int64_t oy = 0; oy < oh; oy++) {
      const int64_t y0 = oy * sh - top, y1 = y0 + fh < h ? y0 + fh : h;
      for (int64_t ox = 0; ox < ow; ox++) {
        const int64_t x0 = ox * sw - left, x1 = x0 + fw < w ? x0 + fw : w;
        for (int64_t d = 0; d < c; d++) {
          best[d] = -INFINITY;
          at[d] = -1;
        }
        for (int64_t iy = y0 < 0 ? 0 : y0; iy < y1; iy++) {
          for (int64_t ix = x0 < 0 ? 0 : x0; ix < x1; ix++) {
            const int64_t base = ((b * h + iy) * w + ix) * c;
            for (int64_t d = 0; d < c; d++) {
              if (x[base + d] > best[d]) {
                best[d] = x[base + d];
                at[d] = base + d;
              }
            }
          }
        }
        const float *g = dy + ((b * oh + oy) * ow + ox) * c;
        for (int64_t d = 0; d < c; d++)
          if (at[d] >= 0) dx[at[d]] += g[d];
      }
    }
  }
  free(best);
  free(at);
  return NULL;
}

/* sumLeadingAxes(heap, xOffset, outer, inner, outOffset): out[j] = sum over i < outer of x[i * inner + j]. */
napi_value sum_leading_axes(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  float *heap;
  size_t floats;
  int64_t xo, outer, inner, oo;
  if (!get_args(env, info, 5, argv) || !get_heap(env, argv[0], &heap, &floats) || !get_i64(env, argv[1], &xo) ||
      !get_i64(env, argv[2], &outer) || !get_i64(env, argv[3], &inner) || !get_i64(env, argv[4], &oo))
    return NULL;
  int64_t size;
  if (!in_range(env, "sumLeadingAxes", "outer", outer, 0, INT64_MAX) || !in_range(env, "sumLeadingAxes", "inner", inner, 0, INT64_MAX) ||
      !size_product(env, "sumLeadingAxes", "outer x inner", outer, inner, &size) ||
      !in_heap(env, "sumLeadingAxes", "xOffset", xo, size, floats) || !in_heap(env, "sumLeadingAxes", "outOffset", oo, inner, floats))
    return NULL;
  double *sums = calloc(inner > 0 ? inner : 1, sizeof(double));
  CHECK(env, sums != NULL, "tfjs-distill native: out of memory");
  const float *x = heap + xo;
  for (int64_t i = 0; i < outer; i++) {
    const float *row = x + i * inner;
    for (int64_t j = 0; j < inner; j++) sums[j] += row[j];
  }
  float *out = heap + oo;
  for (int64_t j = 0; j < inner; j++) out[j] = (float)sums[j];
  free(sums);
  return NULL;
}
