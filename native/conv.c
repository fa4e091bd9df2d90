/*
 * Convolutions as OpenBLAS products on the wasm heap: im2col (or col2im for the input gradient) in chunks of
 * whole images around one sgemm per chunk, the forward's bias and ReLU applied to each chunk while it is in
 * cache. The im2col buffer is kept per thread (the addon's instance data) and grows as needed.
 */
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "blas.h"
#include "conv.h"
#include "napi-args.h"
#include "scratch.h"
#include "vec4.h"

/* Geometry of an NHWC conv with an [KH, KW, CI, CO] filter, as tfjs's Conv2DInfo gives it. */
typedef struct {
  int64_t n, h, w, ci, oh, ow, co, kh, kw, sh, sw, dh, dw, top, left;
} conv_t;

enum { CONV_FORWARD, CONV_INPUT_GRAD, CONV_FILTER_GRAD };

/* conv_t's fields as the geometry Int32Array orders them, and the least each may be. */
static const char *const CONV_GEOMETRY[15] = {"batch",        "inHeight",    "inWidth",        "inChannels",    "outHeight",
                                              "outWidth",     "outChannels", "filterHeight",   "filterWidth",   "strideHeight",
                                              "strideWidth",  "dilationHeight", "dilationWidth", "padTop",        "padLeft"};
static const int32_t CONV_MINIMUM[15] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0};

/*
 * Most floats of im2col matrix held at once (1 MB): chunks of whole images that stay in a core's L2 cache
 * between im2col writing them and sgemm reading them, which measured faster than one large matrix from memory.
 */
#define COL_BUDGET (1 << 18)

/*
 * col[(b, oy, ox), (ky, kx, c)] = x[n0 + b, oy*sh - top + ky*dh, ox*sw - left + kx*dw, c], 0 in the padding.
 * Row by row of the output, with no call per pixel: where a filter row lies inside the image (dilation 1),
 * its kw*ci values are contiguous in x and copied as one run; few channels (the first layer's one) made a
 * memcpy per pixel cost more than the sgemm.
 */
static void im2col(const conv_t *g, const float *x, float *col, int64_t n0, int64_t images) {
  const int64_t k = g->kh * g->kw * g->ci, span = g->kw * g->ci;
  for (int64_t b = 0; b < images; b++) {
    const float *image = x + (n0 + b) * g->h * g->w * g->ci;
    for (int64_t oy = 0; oy < g->oh; oy++) {
      float *rows = col + (b * g->oh + oy) * g->ow * k;
      for (int64_t ky = 0; ky < g->kh; ky++) {
        const int64_t iy = oy * g->sh - g->top + ky * g->dh;
        float *row = rows + ky * span;
        if (iy < 0 || iy >= g->h) {
          for (int64_t ox = 0; ox < g->ow; ox++, row += k) memset(row, 0, sizeof(float) * span);
          continue;
        }
        const float *line = image + iy * g->w * g->ci;
        for (int64_t ox = 0; ox < g->ow; ox++, row += k) {
          const int64_t ix0 = ox * g->sw - g->left;
          if (g->dw == 1 && ix0 >= 0 && ix0 + g->kw <= g->w) {
            const float *from = line + ix0 * g->ci;
            if (span == 3) {
              /* A 3-wide filter on one channel (a first layer on grey images): a fixed-length copy, where the
                 loop's setup cost as much as the three floats. */
              row[0] = from[0];
              row[1] = from[1];
              row[2] = from[2];
            } else {
              for (int64_t j = 0; j < span; j++) row[j] = from[j];
            }
            continue;
          }
          for (int64_t kx = 0; kx < g->kw; kx++) {
            const int64_t ix = ix0 + kx * g->dw;
            float *to = row + kx * g->ci;
            if (ix < 0 || ix >= g->w) {
              for (int64_t c = 0; c < g->ci; c++) to[c] = 0;
            } else {
              for (int64_t c = 0; c < g->ci; c++) to[c] = line[ix * g->ci + c];
            }
          }
        }
      }
    }
  }
}

/* The adjoint of im2col: adds each column entry back onto the input pixel it came from, in the same order. */
static void col2im(const conv_t *g, const float *col, float *dx, int64_t n0, int64_t images) {
  const int64_t k = g->kh * g->kw * g->ci, span = g->kw * g->ci;
  for (int64_t b = 0; b < images; b++) {
    float *image = dx + (n0 + b) * g->h * g->w * g->ci;
    for (int64_t oy = 0; oy < g->oh; oy++) {
      const float *rows = col + (b * g->oh + oy) * g->ow * k;
      for (int64_t ky = 0; ky < g->kh; ky++) {
        const int64_t iy = oy * g->sh - g->top + ky * g->dh;
        if (iy < 0 || iy >= g->h) continue;
        const float *row = rows + ky * span;
        float *line = image + iy * g->w * g->ci;
        for (int64_t ox = 0; ox < g->ow; ox++, row += k) {
          const int64_t ix0 = ox * g->sw - g->left;
          if (g->dw == 1 && ix0 >= 0 && ix0 + g->kw <= g->w) {
            float *to = line + ix0 * g->ci;
            for (int64_t j = 0; j < span; j++) to[j] += row[j];
            continue;
          }
          for (int64_t kx = 0; kx < g->kw; kx++) {
            const int64_t ix = ix0 + kx * g->dw;
            if (ix < 0 || ix >= g->w) continue;
            float *to = line + ix * g->ci;
            for (int64_t c = 0; c < g->ci; c++) to[c] += row[kx * g->ci + c];
          }
        }
      }
    }
  }
}

/*
 * The im2col matrix, kept per worker (native/scratch.h) and grown when needed: a fresh multi-megabyte malloc
 * is a fresh mmap, and faulting its pages in on every call cost as much as a small conv's arithmetic. At
 * most COL_BUDGET floats, or one image's worth when one image needs more.
 */
static float *im2col_buffer(napi_env env, int64_t floats) {
  return scratch_buffer(env, SCRATCH_IM2COL, sizeof(float) * (size_t)floats);
}

/* A 1x1, stride-1, unpadded conv: the im2col matrix is x itself. */
static int is_pointwise(const conv_t *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->top == 0 && g->left == 0 && g->oh == g->h &&
         g->ow == g->w;
}

/*
 * y[i, j] = y[i, j] + bias[j] over rows x co outputs, then max(y, 0) when `relu` (NaN to 0, as the epilogue);
 * applied to each chunk of a forward conv while it is still in cache, instead of one more pass over y.
 */
static void conv_bias_relu(float *y, int64_t rows, int64_t co, const float *bias, int relu) {
  if (bias != NULL) {
    for (int64_t i = 0; i < rows; i++) {
      float *row = y + i * co;
      for (int64_t j = 0; j < co; j++) row[j] += bias[j];
    }
  }
  if (!relu) return;
  const int64_t count = rows * co;
  const f4 zero = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= count; i += 4) {
    const f4 v = load4(y + i);
    store4(y + i, keep4(v, v > zero));
  }
  for (; i < count; i++) y[i] = y[i] > 0 ? y[i] : 0;
}

/*
 * conv2d(heap, mode, xOffset, filterOffset, yOffset, geometry Int32Array[15], biasOffset, relu):
 *   forward:     y[M, CO] = col(x)[M, K] @ W[K, CO], then + bias[CO] (biasOffset >= 0) and max(y, 0) (relu)
 *   input grad:  x (= dx) = col2im(dy[M, CO] @ W^T)
 *   filter grad: W (= dW) = col(x)^T @ dy
 * with M = N*OH*OW output pixels and K = KH*KW*CI, in chunks of whole images. biasOffset is -1 and relu
 * false for the gradients.
 */
napi_value conv2d(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  float *heap;
  size_t floats, length;
  int64_t mode, xo, fo, yo, bo;
  int32_t *p;
  bool relu;
  if (!openblas_ready(env) || !get_args(env, info, 8, argv) || !get_heap(env, argv[0], &heap, &floats)) return NULL;
  if (!get_i64(env, argv[1], &mode) || !get_i64(env, argv[2], &xo) || !get_i64(env, argv[3], &fo) ||
      !get_i64(env, argv[4], &yo) || !get_i32_array(env, argv[5], &p, &length) || !get_i64(env, argv[6], &bo))
    return NULL;
  CHECK(env, napi_get_value_bool(env, argv[7], &relu) == napi_ok, "tfjs-distill native kernels: relu must be a boolean");
  CHECK(env, length == 15, "tfjs-distill native kernels: conv geometry needs 15 numbers");
  if (!in_range(env, "conv2d", "mode", mode, CONV_FORWARD, CONV_FILTER_GRAD) ||
      !check_geometry(env, "conv2d", p, CONV_GEOMETRY, CONV_MINIMUM, 15))
    return NULL;
  conv_t g = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14]};
  /* Each factor is below 2^31, so only the products of three or four can overflow. */
  int64_t k, pixels, xSize, fSize, ySize;
  if (!size_product(env, "conv2d", "filter taps", g.kh * g.kw, g.ci, &k) ||
      !size_product(env, "conv2d", "x size", g.n * g.h, g.w * g.ci, &xSize) ||
      !size_product(env, "conv2d", "filter size", k, g.co, &fSize) ||
      !size_product(env, "conv2d", "output pixels", g.oh, g.ow, &pixels) ||
      !size_product(env, "conv2d", "y size", g.n * g.co, pixels, &ySize) || !in_heap(env, "conv2d", "xOffset", xo, xSize, floats) ||
      !in_heap(env, "conv2d", "filterOffset", fo, fSize, floats) || !in_heap(env, "conv2d", "yOffset", yo, ySize, floats))
    return NULL;
  if (!in_range(env, "conv2d", "biasOffset", bo, -1, INT64_MAX)) return NULL;
  CHECK(env, mode == CONV_FORWARD || (bo < 0 && !relu), "tfjs-distill native kernels: only a forward conv takes a bias or relu");
  if (bo >= 0 && !in_heap(env, "conv2d", "biasOffset", bo, g.co, floats)) return NULL;
  const float *bias = bo >= 0 ? heap + bo : NULL;
  float *x = heap + xo, *filter = heap + fo, *y = heap + yo;
  if (mode == CONV_INPUT_GRAD) memset(x, 0, sizeof(float) * g.n * g.h * g.w * g.ci);
  if (mode == CONV_FILTER_GRAD) memset(filter, 0, sizeof(float) * k * g.co);
  if (g.n == 0 || pixels == 0 || k == 0 || g.co == 0) {
    if (mode == CONV_FORWARD) {
      memset(y, 0, sizeof(float) * g.n * pixels * g.co);
      conv_bias_relu(y, g.n * pixels, g.co, bias, relu);
    }
    return NULL;
  }
  const int pointwise = is_pointwise(&g);
  int64_t per = COL_BUDGET / (pixels * k);
  if (per < 1) per = 1;
  if (per > g.n) per = g.n;
  float *col = NULL;
  if (!pointwise) {
    col = im2col_buffer(env, per * pixels * k);
    CHECK(env, col != NULL, "tfjs-distill native kernels: out of memory for the im2col matrix");
  }
  for (int64_t n0 = 0; n0 < g.n; n0 += per) {
    const int64_t images = g.n - n0 < per ? g.n - n0 : per;
    const int m = (int)(images * pixels);
    float *ys = y + n0 * pixels * g.co;
    float *cols = pointwise ? x + n0 * pixels * k : col;
    switch (mode) {
      case CONV_FORWARD:
        if (!pointwise) im2col(&g, x, col, n0, images);
        openblas_sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, m, (int)g.co, (int)k, 1.0f, cols, (int)k, filter, (int)g.co, 0.0f, ys,
              (int)g.co);
        conv_bias_relu(ys, m, g.co, bias, relu);
        break;
      case CONV_INPUT_GRAD:
        /* Pointwise: dx's rows are exactly dcol's, written directly. */
        openblas_sgemm(ROW_MAJOR, NO_TRANS, TRANS, m, (int)k, (int)g.co, 1.0f, ys, (int)g.co, filter, (int)g.co, 0.0f, cols,
              (int)k);
        if (!pointwise) col2im(&g, col, x, n0, images);
        break;
      case CONV_FILTER_GRAD:
        if (!pointwise) im2col(&g, x, col, n0, images);
        openblas_sgemm(ROW_MAJOR, TRANS, NO_TRANS, (int)k, (int)g.co, m, 1.0f, cols, (int)k, ys, (int)g.co, 1.0f, filter,
              (int)g.co);
        break;
    }
  }
  return NULL;
}
