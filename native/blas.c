/*
 * tfjs-distill's native kernels for the tfjs wasm backend: OpenBLAS sgemm (and, in conv.c, im2col around it
 * for convolutions), computing in place on the wasm heap. JavaScript passes the heap's ArrayBuffer and float
 * offsets into it; nothing is copied in or out.
 *
 * OpenBLAS is dlopen-ed at run time rather than linked, so building needs only a C compiler and Node's
 * headers, and a machine without OpenBLAS still loads the addon and gets a one-line reason from load().
 * Every worker thread loads this addon (NAPI_MODULE_INIT makes it context-aware); OpenBLAS starts at one
 * thread, so W workers run W BLAS threads, never W x cores. setThreads() raises it (process-wide: OpenBLAS
 * keeps one thread count and one thread pool per process), which the pool does only with one worker.
 * The same addon carries the training step's exchange loops (exchange.c), pools and reductions
 * (reductions.c: a 2x2 max pool, a max-pool gradient, bias-gradient sums), a bias add and a broadcasting
 * Equal (elementwise.c), an embedding's gather and gradient (embedding.c), a text student's fused embedding
 * front (token-front.c), a plain dense student's layers while it trains (dense-chain.c) and a cnn1d student's
 * convolution front (token-conv.c), registered below.
 */
#include <dlfcn.h>
#include <math.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "blas.h"

typedef void (*set_threads_fn)(int);

sgemm_fn openblas_sgemm;
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
    openblas_sgemm = f;
    return;
  }
}

#include "napi-args.h"
#include "averaged-update.h"
#include "exchange.h"
#include "reductions.h"
#include "activation-grad.h"
#include "conv.h"
#include "elementwise.h"
#include "embedding.h"
#include "token-front.h"
#include "dense-chain.h"
#include "token-conv.h"
#include "scratch.h"
#include "vec4.h"

int openblas_ready(napi_env env) {
  CHECK(env, openblas_sgemm != NULL, "tfjs-distill native kernels: OpenBLAS is not loaded");
  return 1;
}

/* load(): the OpenBLAS library loaded; throws with the loader's reason when none could be. */
static napi_value load(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_once(&load_once, load_openblas);
  napi_value result = NULL;
  if (openblas_sgemm == NULL) {
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
  if (!openblas_ready(env) || !get_args(env, info, 1, argv) || !get_i64(env, argv[0], &n)) return NULL;
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
  if (!openblas_ready(env) || !get_args(env, info, 9, argv) || !get_heap(env, argv[0], &heap, &floats)) return NULL;
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
    openblas_sgemm(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, (int)m, (int)n, (int)k, 1.0f,
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
      {"averagedUpdate", NULL, averaged_update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"copyBounded", NULL, copy_bounded, NULL, NULL, NULL, napi_enumerable, NULL},
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
      {"denseForward", NULL, dense_forward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"denseBackward", NULL, dense_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tokenConvForward", NULL, token_conv_forward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tokenConvBackward", NULL, token_conv_backward, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof *functions, functions);
  scratch_init(env);
  return exports;
}
