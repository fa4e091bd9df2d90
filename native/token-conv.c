/*
 * A cnn1d student's front while it trains, from the token ids to each row's maximum of each filter
 * (src/models/token-conv.ts recognises the student; src/kernels/token-conv-loops.ts has the JavaScript twins
 * and the contracts): the embedding rows of the real tokens' windows gathered into one im2col matrix
 * (padding and the ends read as zeros, as the stock graph zeroes padding before its same-padded conv), one
 * sgemm with the filters, then bias, ReLU and the maximum per (row, filter) in one pass, remembering where it
 * lies. Padding positions are not computed: the stock graph zeroes their outputs, which leaves the maximum of
 * ReLU outputs (>= 0) alone, and sends them no gradient.
 *
 * The backward pass (token-conv-backward.c) follows the stock graph's gradient: tfjs's Max sends a row's
 * gradient to every position equal to its maximum, ReLU's gradient is 0 where its output is 0, so only
 * positive maxima pass, each to every position that holds it. Each such position adds its im2col row into its filter's gradient and its
 * filter into the table rows of its window's real tokens. Every gradient is written straight into the
 * gradient vector (a rank's exchange slot) at the weights' own offsets.
 *
 * layout (an Int32Array): [tableOffset, vocabSize, width, kernelOffset, biasOffset, kernelSize, filters,
 * maxLength], the table [vocabSize, width], the kernel [kernelSize, width, filters] and the bias [filters] at
 * their offsets in the weights (and in the gradient, which shares their layout). index (an Int32Array) holds,
 * for `rows` rows: where each row's positions start among the computed ones [rows + 1], each (row, filter)'s
 * first computed position holding its maximum (-1: none above 0) [rows x filters], whether another holds it
 * too [rows x filters], and each computed position's place in the ids [rows x maxLength].
 *
 * Positions of a row whose windows read the same ids get the same outputs (see share_equal_windows), as in
 * exact arithmetic; ties between them, and any other equal outputs, then get the gradient as tfjs's Max gives it.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "blas.h"
#include "napi-args.h"
#include "scratch.h"
#include "spans.h"
#include "token-conv.h"
#include "vec4.h"

int conv_args_of(napi_env env, const char *fn, napi_value *argv, conv_args *a) {
  size_t weight_floats, layout_count, id_count, col_floats, out_floats, pooled_floats, index_count;
  int32_t *layout, *index;
  float *ids;
  if (!get_f32_array(env, argv[0], &a->weights, &weight_floats) || !get_i32_array(env, argv[1], &layout, &layout_count) ||
      !get_f32_array(env, argv[2], &ids, &id_count) || !get_i64(env, argv[3], &a->rows) ||
      !get_f32_array(env, argv[4], &a->col, &col_floats) || !get_f32_array(env, argv[5], &a->out, &out_floats) ||
      !get_f32_array(env, argv[6], &a->pooled, &pooled_floats) || !get_i32_array(env, argv[7], &index, &index_count))
    return 0;
  if (layout_count != LAYOUT_SIZE) return fail(env, "tfjs-distill native: %s layout holds %zu values, not %d", fn, layout_count, LAYOUT_SIZE);
  a->ids = ids;
  a->table = layout[LAYOUT_TABLE];
  a->vocab = layout[LAYOUT_VOCAB];
  a->width = layout[LAYOUT_WIDTH];
  a->kernel = layout[LAYOUT_KERNEL];
  a->bias = layout[LAYOUT_BIAS];
  a->kernel_size = layout[LAYOUT_KERNEL_SIZE];
  a->filters = layout[LAYOUT_FILTERS];
  a->length = layout[LAYOUT_LENGTH];
  int64_t table, positions, span, kernel, cols, outs, maxima, needed;
  if (!in_range(env, fn, "vocabSize", a->vocab, 1, INT32_MAX) || !in_range(env, fn, "width", a->width, 1, INT32_MAX) ||
      !in_range(env, fn, "kernelSize", a->kernel_size, 1, INT32_MAX) || !in_range(env, fn, "filters", a->filters, 1, INT32_MAX) ||
      !in_range(env, fn, "maxLength", a->length, 1, INT32_MAX) || !in_range(env, fn, "rows", a->rows, 0, INT32_MAX) ||
      !size_product(env, fn, "vocabSize x width", a->vocab, a->width, &table) ||
      !size_product(env, fn, "rows x maxLength", a->rows, a->length, &positions) ||
      !size_product(env, fn, "kernelSize x width", a->kernel_size, a->width, &span) ||
      !size_product(env, fn, "kernelSize x width x filters", span, a->filters, &kernel) ||
      !size_product(env, fn, "positions x kernelSize x width", positions, span, &cols) ||
      !size_product(env, fn, "positions x filters", positions, a->filters, &outs) ||
      !size_product(env, fn, "rows x filters", a->rows, a->filters, &maxima) ||
      !in_array(env, fn, "tableOffset", a->table, table, weight_floats) ||
      !in_array(env, fn, "kernelOffset", a->kernel, kernel, weight_floats) ||
      !in_array(env, fn, "biasOffset", a->bias, a->filters, weight_floats))
    return 0;
  /* sgemm takes int sizes. */
  if (positions > INT32_MAX || span > INT32_MAX) return fail(env, "tfjs-distill native: %s rows x maxLength or kernelSize x width exceeds 2^31", fn);
  a->span = span;
  a->pad_left = (a->kernel_size - 1) / 2; /* tfjs's 'same' padding at stride 1 */
  needed = a->rows + 1 + 2 * maxima + positions;
  if ((uint64_t)positions > id_count) return fail(env, "tfjs-distill native: %s ids hold %zu ids, fewer than rows x maxLength", fn, id_count);
  if ((uint64_t)cols > col_floats) return fail(env, "tfjs-distill native: %s col holds %zu values, fewer than the %lld it needs", fn, col_floats, (long long)cols);
  if ((uint64_t)outs > out_floats) return fail(env, "tfjs-distill native: %s out holds %zu values, fewer than the %lld it needs", fn, out_floats, (long long)outs);
  if ((uint64_t)maxima > pooled_floats)
    return fail(env, "tfjs-distill native: %s pooled holds %zu values, fewer than rows x filters", fn, pooled_floats);
  if ((uint64_t)needed > index_count)
    return fail(env, "tfjs-distill native: %s index holds %zu values, fewer than the %lld it needs", fn, index_count, (long long)needed);
  a->row_start = index;
  a->argmax = index + a->rows + 1;
  a->tied = a->argmax + maxima;
  a->positions = a->tied + maxima;
  a->index_count = needed;
  return 1;
}

void conv_spans(const conv_args *a, int forward, span *spans) {
  spans[0] = (span){a->weights + a->table, a->vocab * a->width, "table", 0};
  spans[1] = (span){a->weights + a->kernel, a->span * a->filters, "kernel", 0};
  spans[2] = (span){a->weights + a->bias, a->filters, "bias", 0};
  spans[3] = (span){a->ids, a->rows * a->length, "ids", 0};
  spans[4] = (span){a->col, a->rows * a->length * a->span, "col", forward};
  spans[5] = (span){a->out, a->rows * a->length * a->filters, "out", forward};
  spans[6] = (span){a->pooled, a->rows * a->filters, "pooled", forward};
  spans[7] = (span){(const float *)a->row_start, a->index_count, "index", forward};
}

int64_t conv_first_bad_id(const float *ids, int64_t count, int64_t vocab) {
  for (int64_t i = 0; i < count; i++) {
    const float id = ids[i];
    if (!(id >= 0 && id < (float)vocab && id == truncf(id))) return i;
  }
  return -1;
}

static napi_value number_value(napi_env env, double value) {
  napi_value out;
  napi_create_double(env, value, &out);
  return out;
}

/* Writes the im2col rows of row b's real positions from computed row `real` on; returns the next computed row. */
static int64_t gather_windows(const conv_args *a, int64_t b, int64_t real) {
  const float *ids = a->ids + b * a->length;
  const size_t bytes = sizeof(float) * (size_t)a->width;
  for (int64_t p = 0; p < a->length; p++) {
    if (ids[p] == 0) continue;
    float *row = a->col + real * a->span;
    for (int64_t k = 0; k < a->kernel_size; k++) {
      const int64_t q = p + k - a->pad_left;
      float *to = row + k * a->width;
      if (q < 0 || q >= a->length || ids[q] == 0) memset(to, 0, bytes);
      else memcpy(to, a->weights + a->table + (int64_t)ids[q] * a->width, bytes);
    }
    a->positions[real++] = (int32_t)(b * a->length + p);
  }
  return real;
}

/* Token id at position q of a row (0 for padding and past either end): what the window reads there. */
static inline float window_id(const float *ids, int64_t q, int64_t length) { return q >= 0 && q < length ? ids[q] : 0; }

/* Whether positions p and o of a row read the same ids in their windows. */
static int same_window(const conv_args *a, const float *ids, int64_t p, int64_t o) {
  for (int64_t k = 0; k < a->kernel_size; k++)
    if (window_id(ids, p + k - a->pad_left, a->length) != window_id(ids, o + k - a->pad_left, a->length)) return 0;
  return 1;
}

/* The slots of the equal-window lookup for a row of `positions` computed positions: a power of two, at most half full. */
static int64_t window_slots_for(int64_t positions) {
  int64_t slots = 16;
  while (slots < 2 * positions) slots *= 2;
  return slots;
}

/*
 * Gives row b's positions whose windows read the same ids the outputs of the first of them, with
 * `window_slots` (window_slots_for the row's positions at least) as the lookup table. In exact arithmetic
 * they are equal, and tfjs's Max then sends the gradient to each; sgemm may round them apart (its blocking
 * treats rows at different places differently), which would pick one of them by rounding alone.
 */
static void share_equal_windows(const conv_args *a, int64_t b, int32_t *window_slots) {
  const int32_t from = a->row_start[b], to = a->row_start[b + 1];
  const int64_t slots = window_slots_for(to - from);
  memset(window_slots, 0xff, sizeof(int32_t) * (size_t)slots); /* -1: empty */
  const float *ids = a->ids + b * a->length;
  for (int32_t r = from; r < to; r++) {
    const int64_t p = a->positions[r] - b * a->length;
    uint64_t hash = 1469598103934665603ull;
    for (int64_t k = 0; k < a->kernel_size; k++) hash = (hash ^ (uint64_t)window_id(ids, p + k - a->pad_left, a->length)) * 1099511628211ull;
    for (int64_t slot = (int64_t)(hash & (uint64_t)(slots - 1));; slot = (slot + 1) & (slots - 1)) {
      const int32_t first = window_slots[slot];
      if (first < 0) {
        window_slots[slot] = r;
        break;
      }
      if (same_window(a, ids, p, a->positions[first] - b * a->length)) {
        memcpy(a->out + r * a->filters, a->out + first * a->filters, sizeof(float) * (size_t)a->filters);
        break;
      }
    }
  }
}

/* One filter's ReLU of z and maximum update at computed position r (the scalar twin of update4); returns the ReLU. */
static inline float update1(float z, int32_t r, float *pooled, int32_t *argmax, int32_t *tied) {
  const float v = z < 0 ? 0 : z; /* NaN stays NaN, as in tfjs's ReLU */
  if (v > *pooled) {
    *pooled = v;
    *argmax = r;
    *tied = 0;
  } else if (v == *pooled && v > 0) {
    *tied = 1;
  } else if (v != v) {
    *pooled = v;
  }
  return v;
}

/*
 * Four filters' ReLU of z (written back into out) and maximum update at computed position r, without
 * branches: the ReLU's sign is random from output to output, and a mispredicted branch on it costs more than
 * the product itself.
 */
static inline void update4(float *out, f4 z, int32_t r, float *pooled, int32_t *argmax, int32_t *tied) {
  const f4 zero = {0, 0, 0, 0};
  const f4 v = keep4(z, ~(z < zero)); /* NaN stays NaN: it is not below 0 */
  store4(out, v);
  const f4 m = load4(pooled);
  i4 at, tie;
  memcpy(&at, argmax, sizeof at);
  memcpy(&tie, tied, sizeof tie);
  const i4 above = v > m, nan = v != v;
  const i4 rs = {r, r, r, r}, ones = {1, 1, 1, 1};
  at = (rs & above) | (at & ~above);
  tie = ((tie & ~above) | ((v == m) & (v > zero) & ones));
  store4(pooled, select4(above | nan, v, m));
  memcpy(argmax, &at, sizeof at);
  memcpy(tied, &tie, sizeof tie);
}

/*
 * Adds the bias and the ReLU to row b's computed outputs and finds each filter's maximum: pooled starts at 0
 * (the padding's zeros, and a ReLU's floor), a NaN output makes it NaN (so the step reads non-finite).
 */
static void row_maxima(const conv_args *a, int64_t b) {
  const int64_t filters = a->filters, wide = filters & ~(int64_t)3;
  const float *bias = a->weights + a->bias;
  float *pooled = a->pooled + b * filters;
  int32_t *argmax = a->argmax + b * filters, *tied = a->tied + b * filters;
  for (int64_t f = 0; f < filters; f++) {
    pooled[f] = 0;
    argmax[f] = -1;
    tied[f] = 0;
  }
  for (int32_t r = a->row_start[b]; r < a->row_start[b + 1]; r++) {
    float *out = a->out + r * filters;
    int64_t f = 0;
    for (; f < wide; f += 4) update4(out + f, load4(out + f) + load4(bias + f), r, pooled + f, argmax + f, tied + f);
    for (; f < filters; f++) out[f] = update1(out[f] + bias[f], r, pooled + f, argmax + f, tied + f);
  }
}

/*
 * tokenConvForward(weights, layout, ids, rows, col, out, pooled, index) -> -1 or a bad id's index: pooled
 * [rows, filters] = each row's maximum of each filter's ReLU output over its real tokens; col, out and index
 * keep what the backward pass reads.
 */
napi_value token_conv_forward(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  conv_args a;
  span spans[8];
  if (!openblas_ready(env) || !get_args(env, info, 8, argv) || !conv_args_of(env, "tokenConvForward", argv, &a)) return NULL;
  conv_spans(&a, 1, spans);
  if (!disjoint(env, "tokenConvForward", spans, 8)) return NULL;
  const int64_t bad = conv_first_bad_id(a.ids, a.rows * a.length, a.vocab);
  if (bad >= 0) return number_value(env, (double)bad);
  int64_t real = 0, longest = 0;
  for (int64_t b = 0; b < a.rows; b++) {
    a.row_start[b] = (int32_t)real;
    real = gather_windows(&a, b, real);
    if (real - a.row_start[b] > longest) longest = real - a.row_start[b];
  }
  a.row_start[a.rows] = (int32_t)real;
  int32_t *window_slots = scratch_buffer(env, SCRATCH_EQUAL_WINDOWS, sizeof(int32_t) * (size_t)window_slots_for(longest));
  if (window_slots == NULL) {
    fail(env, "tfjs-distill native: tokenConvForward could not allocate its window table");
    return NULL;
  }
  /* The product first, then the bias and the activation, as the stock conv and bias add round them. */
  if (real > 0)
    openblas_sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, (int)real, (int)a.filters, (int)a.span, 1.0f, a.col, (int)a.span,
                   a.weights + a.kernel, (int)a.filters, 0.0f, a.out, (int)a.filters);
  for (int64_t b = 0; b < a.rows; b++) {
    share_equal_windows(&a, b, window_slots);
    row_maxima(&a, b);
  }
  return number_value(env, -1);
}
