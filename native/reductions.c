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
#include "vec4.h"

static inline int32_t bits_of(float f) {
  int32_t bits;
  memcpy(&bits, &f, sizeof bits);
  return bits;
}

static inline float float_of(int32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/*
 * The gradient of a 2x2 pool of stride 2 that tiles the input (even sizes, no padding), the usual CNN pool:
 * each window's four values compared in registers, four channels at a time (vec4.h), and every dx value
 * stored once (no zeroing pass). The
 * same rule as the general loop: the first strict maximum over -Infinity wins; NaN never does.
 */
static void max_pool_grad_2x2(const float *x, const float *dy, float *dx, int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t oh = h / 2, ow = w / 2;
  const f4 lowest = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
  for (int64_t b = 0; b < n; b++) {
    for (int64_t oy = 0; oy < oh; oy++) {
      const float *r0 = x + (b * h + 2 * oy) * w * c, *r1 = r0 + w * c;
      float *d0 = dx + (b * h + 2 * oy) * w * c, *d1 = d0 + w * c;
      const float *g = dy + (b * oh + oy) * ow * c;
      for (int64_t ox = 0; ox < ow; ox++, g += c) {
        const int64_t at = 2 * ox * c;
        int64_t d = 0;
        for (; d + 4 <= c; d += 4) {
          const f4 p0 = load4(r0 + at + d), p1 = load4(r0 + at + c + d), p2 = load4(r1 + at + d), p3 = load4(r1 + at + c + d);
          /* m*: this position beats the maximum of the ones before it. */
          const i4 ma = p0 > lowest;
          f4 m = select4(ma, p0, lowest);
          const i4 mb = p1 > m;
          m = select4(mb, p1, m);
          const i4 mc = p2 > m;
          m = select4(mc, p2, m);
          const i4 md = p3 > m;
          const f4 grad = load4(g + d);
          store4(d0 + at + d, keep4(grad, ma & ~mb & ~mc & ~md));
          store4(d0 + at + c + d, keep4(grad, mb & ~mc & ~md));
          store4(d1 + at + d, keep4(grad, mc & ~md));
          store4(d1 + at + c + d, keep4(grad, md));
        }
        for (; d < c; d++) {
          const float v[4] = {r0[at + d], r0[at + c + d], r1[at + d], r1[at + c + d]};
          float m = -INFINITY;
          int best = -1;
          for (int i = 0; i < 4; i++) {
            if (v[i] > m) {
              m = v[i];
              best = i;
            }
          }
          d0[at + d] = best == 0 ? g[d] : 0.0f;
          d0[at + c + d] = best == 1 ? g[d] : 0.0f;
          d1[at + d] = best == 2 ? g[d] : 0.0f;
          d1[at + c + d] = best == 3 ? g[d] : 0.0f;
        }
      }
    }
  }
}

/*
 * maxPool2x2(heap, xOffset, yOffset, geometry Int32Array[4]): y = the max pool of x [batch, height, width,
 * channels] (NHWC, even height and width) with 2x2 windows of stride 2 and no padding; as the cpu backend's,
 * a window's maximum is that of its values above -Infinity (NaN never counts), -Infinity when none is.
 */
napi_value max_pool_2x2(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  float *heap;
  size_t floats, length;
  int64_t xo, yo;
  int32_t *p;
  if (!get_args(env, info, 4, argv) || !get_heap(env, argv[0], &heap, &floats) || !get_i64(env, argv[1], &xo) ||
      !get_i64(env, argv[2], &yo) || !get_i32_array(env, argv[3], &p, &length))
    return NULL;
  CHECK(env, length == 4, "tfjs-distill native: max pool geometry needs 4 numbers");
  static const char *const names[4] = {"batch", "height", "width", "channels"};
  static const int32_t minimum[4] = {0, 0, 0, 1};
  if (!check_geometry(env, "maxPool2x2", p, names, minimum, 4)) return NULL;
  const int64_t n = p[0], h = p[1], w = p[2], c = p[3];
  CHECK(env, h % 2 == 0 && w % 2 == 0, "tfjs-distill native: maxPool2x2 height and width must be even");
  const int64_t oh = h / 2, ow = w / 2;
  int64_t inputs, outputs;
  if (!size_product(env, "maxPool2x2", "x size", n * h, w * c, &inputs) ||
      !size_product(env, "maxPool2x2", "y size", n * oh, ow * c, &outputs) || !in_heap(env, "maxPool2x2", "xOffset", xo, inputs, floats) ||
      !in_heap(env, "maxPool2x2", "yOffset", yo, outputs, floats))
    return NULL;
  const float *x = heap + xo;
  float *y = heap + yo;
  const f4 lowest = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
  for (int64_t b = 0; b < n; b++) {
    for (int64_t oy = 0; oy < oh; oy++) {
      const float *r0 = x + (b * h + 2 * oy) * w * c, *r1 = r0 + w * c;
      float *out = y + (b * oh + oy) * ow * c;
      for (int64_t ox = 0; ox < ow; ox++, out += c) {
        const int64_t at = 2 * ox * c;
        int64_t d = 0;
        for (; d + 4 <= c; d += 4) {
          const f4 p0 = load4(r0 + at + d), p1 = load4(r0 + at + c + d), p2 = load4(r1 + at + d), p3 = load4(r1 + at + c + d);
          f4 m = lowest;
          i4 more = p0 > m;
          m = select4(more, p0, m);
          more = p1 > m;
          m = select4(more, p1, m);
          more = p2 > m;
          m = select4(more, p2, m);
          more = p3 > m;
          m = select4(more, p3, m);
          store4(out + d, m);
        }
        for (; d < c; d++) {
          const float v[4] = {r0[at + d], r0[at + c + d], r1[at + d], r1[at + c + d]};
          float m = -INFINITY;
          for (int i = 0; i < 4; i++) m = v[i] > m ? v[i] : m;
          out[d] = m;
        }
      }
    }
  }
  return NULL;
}

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
  if (fh == 2 && fw == 2 && sh == 2 && sw == 2 && top == 0 && left == 0 && oh * 2 == h && ow * 2 == w) {
    max_pool_grad_2x2(x, dy, dx, n, h, w, c);
    return NULL;
  }
  memset(dx, 0, sizeof(float) * inputs);
  int32_t *best = malloc(sizeof(int32_t) * c); /* the bits of each channel's maximum so far */
  int32_t *at = malloc(sizeof(int32_t) * c);
  if (best == NULL || at == NULL) {
    free(best);
    free(at);
    napi_throw_error(env, NULL, "tfjs-distill native: out of memory");
    return NULL;
  }
  for (int64_t b = 0; b < n; b++) {
    for (int64_t oy = 0; oy < oh; oy++) {
      const int64_t y0 = oy * sh - top, y1 = y0 + fh < h ? y0 + fh : h, ys = y0 < 0 ? 0 : y0;
      for (int64_t ox = 0; ox < ow; ox++) {
        const int64_t x0 = ox * sw - left, x1 = x0 + fw < w ? x0 + fw : w, xs = x0 < 0 ? 0 : x0;
        /* Per channel, the window position (row-major) of the maximum, -1 while none beats -Infinity;
           branch-free, so the channel loops vectorise. */
        for (int64_t d = 0; d < c; d++) {
          best[d] = bits_of(-INFINITY);
          at[d] = -1;
        }
        int32_t position = 0;
        for (int64_t iy = ys; iy < y1; iy++) {
          for (int64_t ix = xs; ix < x1; ix++, position++) {
            const float *v = x + ((b * h + iy) * w + ix) * c;
            for (int64_t d = 0; d < c; d++) {
              /* Integer-mask selects: the compiler keeps a float select a branch (comparisons may trap). */
              const int32_t more = -(int32_t)(v[d] > float_of(best[d]));
              best[d] = (best[d] & ~more) | (bits_of(v[d]) & more);
              at[d] = (at[d] & ~more) | (position & more);
            }
          }
        }
        const float *g = dy + ((b * oh + oy) * ow + ox) * c;
        position = 0;
        for (int64_t iy = ys; iy < y1; iy++) {
          for (int64_t ix = xs; ix < x1; ix++, position++) {
            float *to = dx + ((b * h + iy) * w + ix) * c;
            for (int64_t d = 0; d < c; d++) to[d] += float_of(bits_of(g[d]) & -(int32_t)(at[d] == position));
          }
        }
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
