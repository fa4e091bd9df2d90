/*
 * One dense layer of a plain dense student (src/models/dense-chain.ts recognises one) while it trains, on
 * Float32Arrays: its forward pass, out = act(input @ kernel + bias), and its backward pass, which writes the
 * kernel's and the bias's gradients straight into the gradient vector at the weights' own offsets and the
 * gradient of its input for the layer below. src/kernels/dense-chain-loops.ts has the JavaScript twins and
 * the contracts. The weights and the gradient share one flat layout (the shared weights and this rank's
 * exchange slot), so one kernelOffset and one biasOffset (-1: no bias) name both. No array a function writes may
 * overlap another array it reads or writes (the loops read their inputs while writing); each function checks
 * the ranges it touches and throws when two overlap.
 *
 * A ReLU passes NaN through (a NaN pre-activation stays NaN, and so does its gradient), as tfjs's ReLU does, so
 * that a step the stock graph would find non-finite is non-finite here too.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "blas.h"
#include "napi-args.h"
#include "dense-chain.h"
#include "spans.h"

typedef struct {
  float *input, *weights, *values; /* values: the output (forward) or the output's gradient (backward) */
  int64_t rows, in, units, kernel, bias;
} layer_args;

/*
 * Reads (input, rows, inWidth, weights, kernelOffset, biasOffset, units, values) from argv and checks the sizes;
 * value_name is the last one's JS name.
 */
static int layer_args_of(napi_env env, const char *fn, const char *value_name, napi_value *argv, layer_args *a) {
  size_t input_floats, weight_floats, value_floats;
  if (!get_f32_array(env, argv[0], &a->input, &input_floats) || !get_i64(env, argv[1], &a->rows) || !get_i64(env, argv[2], &a->in) ||
      !get_f32_array(env, argv[3], &a->weights, &weight_floats) || !get_i64(env, argv[4], &a->kernel) ||
      !get_i64(env, argv[5], &a->bias) || !get_i64(env, argv[6], &a->units) || !get_f32_array(env, argv[7], &a->values, &value_floats))
    return 0;
  int64_t inputs, kernel, outputs;
  if (!in_range(env, fn, "rows", a->rows, 0, INT32_MAX) || !in_range(env, fn, "inWidth", a->in, 1, INT32_MAX) ||
      !in_range(env, fn, "units", a->units, 1, INT32_MAX) || !size_product(env, fn, "rows x inWidth", a->rows, a->in, &inputs) ||
      !size_product(env, fn, "inWidth x units", a->in, a->units, &kernel) ||
      !size_product(env, fn, "rows x units", a->rows, a->units, &outputs) ||
      !in_array(env, fn, "kernelOffset", a->kernel, kernel, weight_floats))
    return 0;
  if (a->bias != -1 && !in_array(env, fn, "biasOffset", a->bias, a->units, weight_floats)) return 0;
  if ((uint64_t)inputs > input_floats) return fail(env, "tfjs-distill native: %s input holds %zu values, fewer than rows x inWidth", fn, input_floats);
  if ((uint64_t)outputs > value_floats)
    return fail(env, "tfjs-distill native: %s %s holds %zu values, fewer than rows x units", fn, value_name, value_floats);
  return 1;
}

/* The ranges of input, the kernel and the bias that every call reads. */
static void read_spans(const layer_args *a, span *spans) {
  spans[0] = (span){a->input, a->rows * a->in, "input", 0};
  spans[1] = (span){a->weights + a->kernel, a->in * a->units, "kernel", 0};
  spans[2] = (span){a->bias == -1 ? a->weights : a->weights + a->bias, a->bias == -1 ? 0 : a->units, "bias", 0};
}

/* denseForward(input, rows, inWidth, weights, kernelOffset, biasOffset, units, out, relu): out = act(input @ kernel + bias). */
napi_value dense_forward(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  layer_args a;
  bool relu;
  if (!openblas_ready(env) || !get_args(env, info, 9, argv) || !layer_args_of(env, "denseForward", "out", argv, &a)) return NULL;
  CHECK(env, napi_get_value_bool(env, argv[8], &relu) == napi_ok, "tfjs-distill native: denseForward's relu must be a boolean");
  span spans[4];
  read_spans(&a, spans);
  spans[3] = (span){a.values, a.rows * a.units, "out", 1};
  if (!disjoint(env, "denseForward", spans, 4) || a.rows == 0) return NULL;
  /* The product first, then the bias and the activation, as tfjs's fused matMul rounds them. */
  openblas_sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, (int)a.rows, (int)a.units, (int)a.in, 1.0f, a.input, (int)a.in,
                 a.weights + a.kernel, (int)a.units, 0.0f, a.values, (int)a.units);
  const float *bias = a.bias == -1 ? NULL : a.weights + a.bias;
  for (int64_t r = 0; r < a.rows; r++) {
    float *row = a.values + r * a.units;
    if (bias != NULL)
      for (int64_t j = 0; j < a.units; j++) row[j] += bias[j];
    if (relu)
      for (int64_t j = 0; j < a.units; j++) row[j] = row[j] < 0 ? 0 : row[j];
  }
  return NULL;
}

/* Whether every |values[i]| <= limit, i < count (false for NaN and the infinities). */
static int bounded(const float *values, int64_t count, float limit) {
  int ok = 1;
  for (int64_t i = 0; i < count; i++) ok &= fabsf(values[i]) <= limit;
  return ok;
}

/* The largest |values[i]|, i < count; infinity when one is NaN or infinite. */
static float max_abs(const float *values, int64_t count) {
  float largest = 0;
  int finite = 1;
  for (int64_t i = 0; i < count; i++) {
    const float a = fabsf(values[i]);
    largest = a > largest ? a : largest;
    finite &= a <= FLT_MAX;
  }
  return finite ? largest : INFINITY;
}

/*
 * The most rows whose sums the shortcut below vouches for: sgemm's rounding error in a sum grows with the
 * number of its terms (relative to the sum of the terms' sizes, about the rows times float's unit rounding),
 * and up to this many it stays well inside the factor of two that the shortcut keeps in hand.
 */
#define MOST_ROWS_BOUNDED_BY_FACTORS (1 << 22)

/*
 * Whether the kernel's gradient input^T @ dOut is within limit, mostly without reading it: each entry is a
 * sum of `rows` products, so its size is at most rows x max|input| x max|dOut|. When that product is under
 * half the limit, the entries are within it even with sgemm's rounding added. Only when that bound does not
 * settle it (or is not finite: a NaN factor, an infinite limit) are the entries themselves read.
 */
static int kernel_gradient_bounded(const layer_args *a, const float *d_kernel, float limit) {
  const double most = (double)a->rows * max_abs(a->input, a->rows * a->in) * max_abs(a->values, a->rows * a->units);
  if (isfinite(most) && isfinite(limit) && a->rows <= MOST_ROWS_BOUNDED_BY_FACTORS && most <= 0.5 * limit) return 1;
  return bounded(d_kernel, a->in * a->units, limit);
}

/*
 * denseBackward(input, rows, inWidth, weights, kernelOffset, biasOffset, units, dOut, grad, dInput, reluInput,
 * limit) -> bool: with dOut the gradient of the layer's output before its activation, writes
 * grad[kernel] = input^T @ dOut and grad[bias] = dOut's column sums (rows in order), and, when dInput is a
 * Float32Array (not null), dInput = dOut @ kernel^T, zeroed where input <= 0 when reluInput (the layer below
 * is a ReLU and input its output). Returns whether every gradient value it wrote is within limit.
 */
napi_value dense_backward(napi_env env, napi_callback_info info) {
  napi_value argv[12];
  layer_args a;
  float *grad, *d_input = NULL;
  size_t grad_floats, d_input_floats = 0;
  bool relu_input;
  double limit;
  napi_valuetype d_input_type;
  if (!openblas_ready(env) || !get_args(env, info, 12, argv) || !layer_args_of(env, "denseBackward", "dOut", argv, &a) ||
      !get_f32_array(env, argv[8], &grad, &grad_floats) || napi_typeof(env, argv[9], &d_input_type) != napi_ok ||
      (d_input_type != napi_null && !get_f32_array(env, argv[9], &d_input, &d_input_floats)) || !get_f64(env, argv[11], &limit))
    return NULL;
  CHECK(env, napi_get_value_bool(env, argv[10], &relu_input) == napi_ok, "tfjs-distill native: denseBackward's reluInput must be a boolean");
  if (!in_array(env, "denseBackward", "grad kernelOffset", a.kernel, a.in * a.units, grad_floats) ||
      (a.bias != -1 && !in_array(env, "denseBackward", "grad biasOffset", a.bias, a.units, grad_floats)))
    return NULL;
  if (d_input != NULL && (uint64_t)(a.rows * a.in) > d_input_floats) {
    fail(env, "tfjs-distill native: denseBackward dInput holds %zu values, fewer than rows x inWidth", d_input_floats);
    return NULL;
  }
  float *d_kernel = grad + a.kernel;
  span spans[7];
  read_spans(&a, spans);
  spans[3] = (span){a.values, a.rows * a.units, "dOut", 0};
  spans[4] = (span){d_kernel, a.in * a.units, "grad's kernel", 1};
  spans[5] = (span){a.bias == -1 ? grad : grad + a.bias, a.bias == -1 ? 0 : a.units, "grad's bias", 1};
  spans[6] = (span){d_input == NULL ? grad : d_input, d_input == NULL ? 0 : a.rows * a.in, "dInput", 1};
  if (!disjoint(env, "denseBackward", spans, 7)) return NULL;
  if (a.rows == 0) memset(d_kernel, 0, sizeof(float) * (size_t)(a.in * a.units));
  else
    openblas_sgemm(ROW_MAJOR, TRANS, NO_TRANS, (int)a.in, (int)a.units, (int)a.rows, 1.0f, a.input, (int)a.in, a.values,
                   (int)a.units, 0.0f, d_kernel, (int)a.units);
  int ok = kernel_gradient_bounded(&a, d_kernel, (float)limit);
  if (a.bias != -1) {
    float *d_bias = grad + a.bias;
    memset(d_bias, 0, sizeof(float) * (size_t)a.units);
    for (int64_t r = 0; r < a.rows; r++) {
      const float *row = a.values + r * a.units;
      for (int64_t j = 0; j < a.units; j++) d_bias[j] += row[j];
    }
    ok &= bounded(d_bias, a.units, (float)limit);
  }
  if (d_input != NULL && a.rows > 0) {
    openblas_sgemm(ROW_MAJOR, NO_TRANS, TRANS, (int)a.rows, (int)a.in, (int)a.units, 1.0f, a.values, (int)a.units,
                   a.weights + a.kernel, (int)a.units, 0.0f, d_input, (int)a.in);
    if (relu_input)
      for (int64_t i = 0; i < a.rows * a.in; i++) d_input[i] = a.input[i] <= 0 ? 0 : d_input[i];
  }
  return boolean_value(env, ok);
}
