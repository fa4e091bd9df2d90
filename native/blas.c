/*
 * tfjs-distill's native kernels for the tfjs wasm backend: OpenBLAS sgemm (and im2col around it for
 * convolutions), computing in place on the wasm heap. JavaScript passes the heap's ArrayBuffer and float
 * offsets into it; nothing is copied in or out.
 *
 * OpenBLAS is dlopen-ed at run time rather than linked, so building needs only a C compiler and Node's
 * headers, and a machine without OpenBLAS still loads the addon and gets a one-line reason from load().
 * Every worker thread loads this addon (NAPI_MODULE_INIT makes it context-aware); OpenBLAS starts at one
 * thread, so W workers run W BLAS threads, never W x cores. setThreads() raises it (process-wide: OpenBLAS
 * keeps one thread count and one thread pool per process), which the pool does only with one worker.
 * The same addon carries the training step's exchange loops (exchange.c), pools and reductions
 * (reductions.c: a 2x2 max pool, a max-pool gradient, bias-gradient sums), a bias add and a broadcasting
 * Equal (elementwise.c), an embedding's gather and gradient (embedding.c) and a text student's fused embedding
 * front (token-front.c), registered below.
 */
#include <dlfcn.h>
#include <math.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
typedef void (*sgemm_fn)(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a,
                         int lda, const float *b, int ldb, float beta, float *c, int ldc);
typedef void (*set_threads_fn)(int);

static sgemm_fn sgemm;
static set_threads_fn set_threads;
static int (*get_threads)(void);
static char library[256];
static char load_error[512];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static const char *const LIBRARIES[] = {"libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libopenblas.0.dylib"};

static void load_openblas(void) {
  /* Before OpenBLAS initialises: it would otherwise start a thread per core, unused but present. */
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
  load_error[0] = 0;
  /* TFJS_DISTILL_OPENBLAS names the library to use instead of searching the usual names. */
  const char *chosen = getenv("TFJS_DISTILL_OPENBLAS");
  const char *const *names = LIBRARIES;
  size_t count = sizeof LIBRARIES / sizeof *LIBRARIES;
  if (chosen != NULL && chosen[0] != 0) {
    names = &chosen;
    count = 1;
  }
  for (size_t i = 0; i < count; i++) {
    void *handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
      if (load_error[0] == 0) snprintf(load_error, sizeof load_error, "%s", dlerror());
      continue;
    }
    sgemm_fn f = (sgemm_fn)dlsym(handle, "cblas_sgemm");
    if (f == NULL) {
      snprintf(load_error, sizeof load_error, "%s has no cblas_sgemm", names[i]);
      continue;
    }
    set_threads = (set_threads_fn)dlsym(handle, "openblas_set_num_threads");
    get_threads = (int (*)(void))dlsym(handle, "openblas_get_num_threads");
    if (set_threads != NULL) set_threads(1);
    snprintf(library, sizeof library, "%s", names[i]);
    sgemm = f;
    return;
  }
}

#include "napi-args.h"
#include "exchange.h"
#include "reductions.h"
#include "activation-grad.h"
#include "elementwise.h"
#include "embedding.h"
#include "token-front.h"
#include "vec4.h"

static int ready(napi_env env) {
  CHECK(env, sgemm != NULL, "tfjs-distill native kernels: OpenBLAS is not loaded");
  return 1;
}

/* load(): the OpenBLAS library loaded; throws with the loader's reason when none could be. */
static napi_value load(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_once(&load_once, load_openblas);
  napi_value result = NULL;
  if (sgemm == NULL) {
    napi_throw_error(env, NULL, load_error[0] ? load_error : "libopenblas not found");
    return NULL;
  }
  napi_create_string_utf8(env, library, NAPI_AUTO_LENGTH, &result);
  return result;
}

/*
 * setThreads(n): OpenBLAS's thread count for every later call, in every thread of the process; returns the
 * count OpenBLAS reports (1 when the library has no openblas_set_num_threads: a single-threaded BLAS).
 */
static napi_value set_blas_threads(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t n;
  if (!ready(env) || !get_args(env, info, 1, argv) || !get_i64(env, argv[0], &n)) return NULL;
  if (!in_range(env, "setThreads", "threads", n, 1, 1024)) return NULL;
  if (set_threads != NULL) set_threads((int)n);
  napi_value result = NULL;
  napi_create_int32(env, get_threads != NULL ? get_threads() : 1, &result);
  return result;
}

/*
 * Batches of many products this small (a text student's masked mean: a [1, T] row against a [T, D] table per
 * sample, and one of the two products of its gradient) take a plain loop: sgemm's fixed cost per call is larger than
 * such a product's arithmetic. A batch of fewer products keeps sgemm.
 */
#define SMALL_GEMM_MIN_BATCHES 8
#define SMALL_GEMM_MAX_MACS 8192

/* out[m, n] = op(A) @ B, row-major, float32 sums over k in order: rows of B added into each output row. */
static void small_gemm(bool transA, int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *out) {
  const int64_t aI = transA ? 1 : k, aP = transA ? m : 1;
  for (int64_t i = 0; i < m; i++) {
    float *row = out + i * n;
    for (int64_t j = 0; j < n; j++) row[j] = 0.0f;
    for (int64_t p = 0; p < k; p++) {
      const float aip = a[i * aI + p * aP];
      const float *bp = b + p * n;
      for (int64_t j = 0; j < n; j++) row[j] += aip * bp[j];
    }
  }
}

/*
 * gemm(heap, transA, transB, m, n, k, aOffsets, bOffsets, cOffset): for each batch i,
 * C_i[m, n] = op(A_i) @ op(B_i), A_i at heap float aOffsets[i], B_i at bOffsets[i], C_i at cOffset + i*m*n.
 * Offsets are float indices into the heap; each operand is row-major and dense.
 */
static napi_value gemm(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  float *heap;
  size_t floats, batches, bBatches;
  int32_t *aOffsets, *bOffsets;
  int64_t m, n, k, c;
  bool transA, transB;
  if (!ready(env) || !get_args(env, info, 9, argv) || !get_heap(env, argv[0], &heap, &floats)) return NULL;
  CHECK(env, napi_get_value_bool(env, argv[1], &transA) == napi_ok && napi_get_value_bool(env, argv[2], &transB) == napi_ok,
        "tfjs-distill native kernels: transpose flags must be booleans");
  if (!get_i64(env, argv[3], &m) || !get_i64(env, argv[4], &n) || !get_i64(env, argv[5], &k)) return NULL;
  if (!get_i32_array(env, argv[6], &aOffsets, &batches) || !get_i32_array(env, argv[7], &bOffsets, &bBatches)) return NULL;
  if (!get_i64(env, argv[8], &c)) return NULL;
  CHECK(env, batches == bBatches, "tfjs-distill native kernels: aOffsets and bOffsets differ in length");
  int64_t mn, cSize;
  if (!in_range(env, "gemm", "m", m, 0, INT32_MAX) || !in_range(env, "gemm", "n", n, 0, INT32_MAX) ||
      !in_range(env, "gemm", "k", k, 0, INT32_MAX) || !size_product(env, "gemm", "m x n", m, n, &mn) ||
      !size_product(env, "gemm", "batches x m x n", (int64_t)batches, mn, &cSize) || !in_heap(env, "gemm", "cOffset", c, cSize, floats))
    return NULL;
  for (size_t i = 0; i < batches; i++) {
    if (!in_heap(env, "gemm", "aOffsets[i]", aOffsets[i], m * k, floats) ||
        !in_heap(env, "gemm", "bOffsets[i]", bOffsets[i], k * n, floats))
      return NULL;
  }
  // Only with B as it is: op(B) = B^T would make the loop a dot product, whose serial sum is slower than sgemm.
  const bool small = !transB && batches >= SMALL_GEMM_MIN_BATCHES && mn * k <= SMALL_GEMM_MAX_MACS;
  for (size_t i = 0; i < batches; i++) {
    float *out = heap + c + (int64_t)i * m * n;
    if (m == 0 || n == 0) continue;
    if (k == 0) {
      memset(out, 0, sizeof(float) * m * n);
      continue;
    }
    if (small) {
      small_gemm(transA, m, n, k, heap + aOffsets[i], heap + bOffsets[i], out);
      continue;
    }
    sgemm(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, (int)m, (int)n, (int)k, 1.0f,
          heap + aOffsets[i], transA ? (int)m : (int)k, heap + bOffsets[i], transB ? (int)k : (int)n, 0.0f, out, (int)n);
  }
  return NULL;
}

/* The activations tfjs fuses, numbered as tfjs-backend-wasm's FusableActivation. */
enum { LINEAR, RELU, RELU6, PRELU, LEAKYRELU, SIGMOID, ELU };

/*
 * epilogue(heap, offset, count, biasOffset, biasSize, activation, alpha, preluOffset, preluSize): for the
 * count floats at offset, x = act(x + bias[i % biasSize]), where prelu's slope is prelu[i % preluSize].
 * biasSize 0 means no bias. JS checks that bias and prelu weights broadcast this way (suffix shapes).
 */
static napi_value epilogue(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  float *heap;
  size_t floats;
  int64_t offset, count, biasOffset, biasSize, activation, preluOffset, preluSize;
  double alpha;
  if (!get_args(env, info, 9, argv) || !get_heap(env, argv[0], &heap, &floats)) return NULL;
  if (!get_i64(env, argv[1], &offset) || !get_i64(env, argv[2], &count) || !get_i64(env, argv[3], &biasOffset) ||
      !get_i64(env, argv[4], &biasSize) || !get_i64(env, argv[5], &activation) || !get_f64(env, argv[6], &alpha) ||
      !get_i64(env, argv[7], &preluOffset) || !get_i64(env, argv[8], &preluSize))
    return NULL;
  if (!in_heap(env, "epilogue", "offset", offset, count, floats) || !in_range(env, "epilogue", "biasSize", biasSize, 0, INT64_MAX) ||
      !in_range(env, "epilogue", "preluSize", preluSize, 0, INT64_MAX) || !in_range(env, "epilogue", "activation", activation, LINEAR, ELU))
    return NULL;
  if (biasSize > 0 && !in_heap(env, "epilogue", "biasOffset", biasOffset, biasSize, floats)) return NULL;
  CHECK(env, activation != PRELU || preluSize > 0, "tfjs-distill native kernels: prelu needs its weights");
  if (activation == PRELU && !in_heap(env, "epilogue", "preluOffset", preluOffset, preluSize, floats)) return NULL;
  float *x = heap + offset;
  /* Row by row rather than bias[i % biasSize]: a 64-bit division per element cost more than the rest. */
  if (biasSize > 0) {
    const float *bias = heap + biasOffset;
    for (int64_t start = 0; start < count; start += biasSize) {
      float *row = x + start;
      const int64_t n = count - start < biasSize ? count - start : biasSize;
      for (int64_t j = 0; j < n; j++) row[j] += bias[j];
    }
  }
  const float a = (float)alpha;
  switch (activation) {
    case RELU:
      for (int64_t i = 0; i < count; i++) x[i] = x[i] > 0 ? x[i] : 0;
      break;
    case RELU6:
      for (int64_t i = 0; i < count; i++) x[i] = x[i] < 0 ? 0 : (x[i] > 6 ? 6 : x[i]);
      break;
    case PRELU: {
      const float *slope = heap + preluOffset;
      for (int64_t start = 0; start < count; start += preluSize) {
        float *row = x + start;
        const int64_t n = count - start < preluSize ? count - start : preluSize;
        for (int64_t j = 0; j < n; j++) row[j] = row[j] < 0 ? slope[j] * row[j] : row[j];
      }
      break;
    }
    case LEAKYRELU:
      for (int64_t i = 0; i < count; i++) x[i] = x[i] < 0 ? a * x[i] : x[i];
      break;
    case SIGMOID:
      for (int64_t i = 0; i < count; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
      break;
    case ELU:
      for (int64_t i = 0; i < count; i++) x[i] = x[i] > 0 ? x[i] : expm1f(x[i]);
      break;
  }
  return NULL;
}

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
 * The im2col matrix, kept per worker (N-API instance data, freed with the worker) and grown when needed:
 * a fresh multi-megabyte malloc is a fresh mmap, and faulting its pages in on every call cost as much as a
 * small conv's arithmetic. At most COL_BUDGET floats, or one image's worth when one image needs more.
 */
typedef struct {
  float *data;
  size_t capacity;
} col_cache_t;

static void free_col_cache(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  col_cache_t *cache = data;
  free(cache->data);
  free(cache);
}

static float *im2col_buffer(napi_env env, int64_t floats) {
  col_cache_t *cache = NULL;
  if (napi_get_instance_data(env, (void **)&cache) != napi_ok || cache == NULL) return NULL;
  if ((size_t)floats > cache->capacity) {
    free(cache->data);
    cache->data = malloc(sizeof(float) * floats);
    cache->capacity = cache->data == NULL ? 0 : (size_t)floats;
  }
  return cache->data;
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
static napi_value conv2d(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  float *heap;
  size_t floats, length;
  int64_t mode, xo, fo, yo, bo;
  int32_t *p;
  bool relu;
  if (!ready(env) || !get_args(env, info, 8, argv) || !get_heap(env, argv[0], &heap, &floats)) return NULL;
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
        sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, m, (int)g.co, (int)k, 1.0f, cols, (int)k, filter, (int)g.co, 0.0f, ys,
              (int)g.co);
        conv_bias_relu(ys, m, g.co, bias, relu);
        break;
      case CONV_INPUT_GRAD:
        /* Pointwise: dx's rows are exactly dcol's, written directly. */
        sgemm(ROW_MAJOR, NO_TRANS, TRANS, m, (int)k, (int)g.co, 1.0f, ys, (int)g.co, filter, (int)g.co, 0.0f, cols,
              (int)k);
        if (!pointwise) col2im(&g, col, x, n0, images);
        break;
      case CONV_FILTER_GRAD:
        if (!pointwise) im2col(&g, x, col, n0, images);
        sgemm(ROW_MAJOR, TRANS, NO_TRANS, (int)k, (int)g.co, m, 1.0f, cols, (int)k, ys, (int)g.co, 1.0f, filter,
              (int)g.co);
        break;
    }
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      {"load", NULL, load, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setThreads", NULL, set_blas_threads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gemm", NULL, gemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"epilogue", NULL, epilogue, NULL, NULL, NULL, napi_enumerable, NULL},
      {"conv2d", NULL, conv2d, NULL, NULL, NULL, napi_enumerable, NULL},
      {"weightedSum", NULL, weighted_sum, NULL, NULL, NULL, napi_enumerable, NULL},
      {"allFinite", NULL, all_finite, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adam", NULL, adam, NULL, NULL, NULL, napi_enumerable, NULL},
      {"momentum", NULL, momentum, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sgd", NULL, sgd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"maxPool2x2", NULL, max_pool_2x2, NULL, NULL, NULL, napi_enumerable, NULL},
      {"maxPoolGrad", NULL, max_pool_grad, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sumLeadingAxes", NULL, sum_leading_axes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"biasAdd", NULL, bias_add, NULL, NULL, NULL, napi_enumerable, NULL},
      {"reluGrad", NULL, relu_grad, NULL, NULL, NULL, napi_enumerable, NULL},
      {"equalBroadcast", NULL, equal_broadcast, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gatherRows", NULL, gather_rows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"segmentSumRows", NULL, segment_sum_rows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"realTokenMean", NULL, real_token_mean, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addRealTokenMeanGradient", NULL, add_real_token_mean_gradient, NULL, NULL, NULL, napi_enumerable, NULL},
      {"realTokenRows", NULL, real_token_rows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addRealTokenRowsGradient", NULL, add_real_token_rows_gradient, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof *functions, functions);
  col_cache_t *cache = calloc(1, sizeof *cache);
  if (cache != NULL && napi_set_instance_data(env, cache, free_col_cache, NULL) != napi_ok) free(cache);
  return exports;
}
