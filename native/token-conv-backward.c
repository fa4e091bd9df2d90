/*
 * The backward pass of a cnn1d student's front (native/token-conv.c has the forward pass, the layout and the
 * index it leaves): the maxima's gradient sent to every position that holds a positive maximum, as tfjs's Max
 * and ReLU gradients send it, and from there into the filters', the bias's and the table's gradients.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "blas.h"
#include "napi-args.h"
#include "scratch.h"
#include "spans.h"
#include "token-conv.h"

/* Whether every |values[i]| <= limit, i < count (false for NaN and the infinities). */
static int all_bounded(const float *values, int64_t count, float limit) {
  int ok = 1;
  for (int64_t i = 0; i < count; i++) ok &= fabsf(values[i]) <= limit;
  return ok;
}

/* Whether index still holds what a forward pass over these ids left: every place it names lies where that pass puts it. */
static int index_intact(const conv_args *a) {
  if (a->row_start[0] != 0) return 0;
  for (int64_t b = 0; b < a->rows; b++) {
    const int32_t from = a->row_start[b], to = a->row_start[b + 1];
    if (to < from || to > (b + 1) * a->length) return 0;
    for (int32_t r = from; r < to; r++)
      if (a->positions[r] < b * a->length || a->positions[r] >= (b + 1) * a->length) return 0;
    for (int64_t f = 0; f < a->filters; f++) {
      const int32_t at = a->argmax[b * a->filters + f];
      if (at != -1 && (at < from || at >= to)) return 0;
    }
  }
  return 1;
}

/* Computed position r (of row b) holds filter f's maximum, whose gradient is g: adds its share into the gradients. */
static void add_at(const conv_args *a, int64_t b, int64_t r, int64_t f, float g, const float *filter_t, float *d_kernel_t, float *d_table) {
  const float *col = a->col + r * a->span;
  float *d_filter = d_kernel_t + f * a->span;
  const float *filter = filter_t + f * a->span;
  for (int64_t j = 0; j < a->span; j++) d_filter[j] += col[j] * g;
  const float *ids = a->ids + b * a->length;
  const int64_t p = a->positions[r] - b * a->length;
  for (int64_t k = 0; k < a->kernel_size; k++) {
    const int64_t q = p + k - a->pad_left;
    if (q < 0 || q >= a->length || ids[q] == 0) continue;
    float *row = d_table + (int64_t)ids[q] * a->width;
    const float *w = filter + k * a->width;
    for (int64_t c = 0; c < a->width; c++) row[c] += w[c] * g;
  }
}

/*
 * tokenConvBackward(weights, layout, ids, rows, col, out, pooled, index, dPooled, grad, limit) -> bool: with
 * dPooled [rows, filters] the gradient of the last forward pass's pooled, writes the table's, the kernel's and
 * the bias's gradients into grad at their offsets. Returns whether every value written is within limit.
 */
napi_value token_conv_backward(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  conv_args a;
  float *d_pooled, *grad;
  size_t d_pooled_floats, grad_floats;
  double limit;
  if (!openblas_ready(env) || !get_args(env, info, 11, argv) || !conv_args_of(env, "tokenConvBackward", argv, &a) ||
      !get_f32_array(env, argv[8], &d_pooled, &d_pooled_floats) || !get_f32_array(env, argv[9], &grad, &grad_floats) ||
      !get_f64(env, argv[10], &limit))
    return NULL;
  const int64_t filters = a.filters, table = a.vocab * a.width, kernel = a.span * filters;
  if ((uint64_t)(a.rows * filters) > d_pooled_floats) {
    fail(env, "tfjs-distill native: tokenConvBackward dPooled holds %zu values, fewer than rows x filters", d_pooled_floats);
    return NULL;
  }
  if (!in_array(env, "tokenConvBackward", "grad tableOffset", a.table, table, grad_floats) ||
      !in_array(env, "tokenConvBackward", "grad kernelOffset", a.kernel, kernel, grad_floats) ||
      !in_array(env, "tokenConvBackward", "grad biasOffset", a.bias, filters, grad_floats))
    return NULL;
  float *d_table = grad + a.table, *d_kernel = grad + a.kernel, *d_bias = grad + a.bias;
  span spans[12];
  conv_spans(&a, 0, spans);
  spans[8] = (span){d_pooled, a.rows * filters, "dPooled", 0};
  spans[9] = (span){d_table, table, "grad's table", 1};
  spans[10] = (span){d_kernel, kernel, "grad's kernel", 1};
  spans[11] = (span){d_bias, filters, "grad's bias", 1};
  if (!disjoint(env, "tokenConvBackward", spans, 12)) return NULL;
  if (conv_first_bad_id(a.ids, a.rows * a.length, a.vocab) >= 0 || !index_intact(&a)) {
    fail(env, "tfjs-distill native: tokenConvBackward's ids or index are not those of a forward pass; run tokenConvForward first");
    return NULL;
  }
  /* The filters transposed [filters, span], then their gradient so. */
  float *filter_t = scratch_buffer(env, SCRATCH_TRANSPOSED_FILTERS, sizeof(float) * (size_t)(2 * kernel));
  if (filter_t == NULL) {
    fail(env, "tfjs-distill native: tokenConvBackward could not allocate %lld floats", (long long)(2 * kernel));
    return NULL;
  }
  float *d_kernel_t = filter_t + kernel;
  const float *w = a.weights + a.kernel;
  for (int64_t j = 0; j < a.span; j++)
    for (int64_t f = 0; f < filters; f++) filter_t[f * a.span + j] = w[j * filters + f];
  memset(d_kernel_t, 0, sizeof(float) * (size_t)kernel);
  memset(d_table, 0, sizeof(float) * (size_t)table);
  memset(d_bias, 0, sizeof(float) * (size_t)filters);
  for (int64_t b = 0; b < a.rows; b++) {
    for (int64_t f = 0; f < filters; f++) {
      const int64_t i = b * filters + f;
      const float max = a.pooled[i], g = d_pooled[i];
      /* ReLU's gradient is 0 at 0: no position gets any (nor any when the index names none). */
      if (!(max > 0) || a.argmax[i] < 0) continue;
      if (!a.tied[i]) {
        d_bias[f] += g;
        add_at(&a, b, a.argmax[i], f, g, filter_t, d_kernel_t, d_table);
        continue;
      }
      for (int64_t r = a.argmax[i]; r < a.row_start[b + 1]; r++) {
        if (a.out[r * filters + f] != max) continue;
        d_bias[f] += g;
        add_at(&a, b, r, f, g, filter_t, d_kernel_t, d_table);
      }
    }
  }
  for (int64_t j = 0; j < a.span; j++)
    for (int64_t f = 0; f < filters; f++) d_kernel[j * filters + f] = d_kernel_t[f * a.span + j];
  const float bound = (float)limit;
  const int ok = all_bounded(d_kernel, kernel, bound) & all_bounded(d_bias, filters, bound) & all_bounded(d_table, table, bound);
  return boolean_value(env, ok);
}
