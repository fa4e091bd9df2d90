/*
 * The loops of a text student's fused embedding front (src/kernels/token-front-loops.ts has the JavaScript
 * twins and the contracts): the mean embedding over each row's real tokens, or each real token's embedding
 * with zeros at padding, read from a Float32Array table; and their gradients, added into the table's gradient
 * row by row in token order. Float32 arithmetic in the JavaScript loops' order, so both give the same bits.
 * Ids are float32 token ids, 0 for padding. The forward functions return -1, or the index of the first id
 * that is not a whole number in [0, vocabSize) (the caller names it); the gradients trust the forward pass's
 * check but still refuse ids outside the gradient array.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "napi-args.h"
#include "token-front.h"

typedef struct {
  float *table; /* the table (forward) or its gradient (backward) */
  int64_t offset, vocab, width, rows, length;
  const float *ids;
  float *front; /* the front's output (forward) or its gradient (backward) */
} front_args;

/*
 * (table, tableOffset, vocabSize, width, ids, rows, maxLength, front): the table's [vocabSize, width] values
 * from tableOffset lie in it, ids holds rows x maxLength ids, and front rows x perRow values, perRow being
 * width (a mean) or maxLength x width (rows).
 */
static int front_args_of(napi_env env, napi_callback_info info, const char *fn, int mean, front_args *a) {
  napi_value argv[8];
  size_t table_floats, id_count, front_floats;
  float *ids;
  if (!get_args(env, info, 8, argv) || !get_f32_array(env, argv[0], &a->table, &table_floats) || !get_i64(env, argv[1], &a->offset) ||
      !get_i64(env, argv[2], &a->vocab) || !get_i64(env, argv[3], &a->width) || !get_f32_array(env, argv[4], &ids, &id_count) ||
      !get_i64(env, argv[5], &a->rows) || !get_i64(env, argv[6], &a->length) || !get_f32_array(env, argv[7], &a->front, &front_floats))
    return 0;
  a->ids = ids;
  int64_t table, tokens, per_row, front;
  if (!in_range(env, fn, "vocabSize", a->vocab, 1, INT32_MAX) || !in_range(env, fn, "width", a->width, 1, INT32_MAX) ||
      !in_range(env, fn, "rows", a->rows, 0, INT32_MAX) || !in_range(env, fn, "maxLength", a->length, 1, INT32_MAX) ||
      !size_product(env, fn, "vocabSize x width", a->vocab, a->width, &table) ||
      !size_product(env, fn, "rows x maxLength", a->rows, a->length, &tokens) ||
      !size_product(env, fn, "maxLength x width", mean ? 1 : a->length, a->width, &per_row) ||
      !size_product(env, fn, "rows x row", a->rows, per_row, &front))
    return 0;
  if (a->offset < 0 || (uint64_t)table > table_floats || (uint64_t)a->offset > table_floats - (uint64_t)table)
    return fail(env, "tfjs-distill native: %s tableOffset %lld: the table's %lld values lie outside the array of %zu", fn,
                (long long)a->offset, (long long)table, table_floats);
  if ((uint64_t)tokens > id_count) return fail(env, "tfjs-distill native: %s ids hold %zu ids, fewer than rows x maxLength", fn, id_count);
  if ((uint64_t)front > front_floats)
    return fail(env, "tfjs-distill native: %s front holds %zu values, fewer than the %lld it needs", fn, front_floats, (long long)front);
  return 1;
}

/* -1 when every id is a whole number in [0, vocab), else the index of the first that is not. */
static int64_t first_bad_id(const float *ids, int64_t count, int64_t vocab) {
  for (int64_t i = 0; i < count; i++) {
    const float id = ids[i];
    if (!(id >= 0 && id < (float)vocab && id == truncf(id))) return i;
  }
  return -1;
}

static napi_value index_value(napi_env env, int64_t index) {
  napi_value out;
  napi_create_double(env, (double)index, &out);
  return out;
}

/* How many of the row's tokens count: its real ones, or every position when it has none. */
static int64_t counted(const float *ids, int64_t length, int *every) {
  int64_t count = 0;
  for (int64_t t = 0; t < length; t++) count += ids[t] != 0;
  *every = count == 0;
  return count == 0 ? length : count;
}

/* realTokenMean(table, tableOffset, vocabSize, width, ids, rows, maxLength, out) -> -1 or a bad id's index. */
napi_value real_token_mean(napi_env env, napi_callback_info info) {
  front_args a;
  if (!front_args_of(env, info, "realTokenMean", 1, &a)) return NULL;
  const int64_t bad = first_bad_id(a.ids, a.rows * a.length, a.vocab);
  if (bad >= 0) return index_value(env, bad);
  const float *table = a.table + a.offset;
  for (int64_t r = 0; r < a.rows; r++) {
    const float *ids = a.ids + r * a.length;
    float *out = a.front + r * a.width;
    int every;
    const float weight = 1.0f / (float)counted(ids, a.length, &every);
    memset(out, 0, (size_t)a.width * sizeof(float));
    for (int64_t t = 0; t < a.length; t++) {
      if (ids[t] == 0 && !every) continue;
      const float *row = table + (int64_t)ids[t] * a.width;
      for (int64_t j = 0; j < a.width; j++) out[j] += row[j];
    }
    for (int64_t j = 0; j < a.width; j++) out[j] *= weight;
  }
  return index_value(env, -1);
}

/* addRealTokenMeanGradient(grad, gradOffset, vocabSize, width, ids, rows, maxLength, dMean) -> -1 or a bad id's index. */
napi_value add_real_token_mean_gradient(napi_env env, napi_callback_info info) {
  front_args a;
  if (!front_args_of(env, info, "addRealTokenMeanGradient", 1, &a)) return NULL;
  const int64_t bad = first_bad_id(a.ids, a.rows * a.length, a.vocab);
  if (bad >= 0) return index_value(env, bad);
  float *grad = a.table + a.offset;
  for (int64_t r = 0; r < a.rows; r++) {
    const float *ids = a.ids + r * a.length;
    const float *d = a.front + r * a.width;
    int every;
    const float weight = 1.0f / (float)counted(ids, a.length, &every);
    for (int64_t t = 0; t < a.length; t++) {
      if (ids[t] == 0 && !every) continue;
      float *row = grad + (int64_t)ids[t] * a.width;
      for (int64_t j = 0; j < a.width; j++) row[j] += weight * d[j];
    }
  }
  return index_value(env, -1);
}

/* realTokenRows(table, tableOffset, vocabSize, width, ids, rows, maxLength, out) -> -1 or a bad id's index. */
napi_value real_token_rows(napi_env env, napi_callback_info info) {
  front_args a;
  if (!front_args_of(env, info, "realTokenRows", 0, &a)) return NULL;
  const int64_t tokens = a.rows * a.length;
  const int64_t bad = first_bad_id(a.ids, tokens, a.vocab);
  if (bad >= 0) return index_value(env, bad);
  const float *table = a.table + a.offset;
  const size_t bytes = (size_t)a.width * sizeof(float);
  for (int64_t p = 0; p < tokens; p++) {
    float *out = a.front + p * a.width;
    if (a.ids[p] == 0) memset(out, 0, bytes);
    else memcpy(out, table + (int64_t)a.ids[p] * a.width, bytes);
  }
  return index_value(env, -1);
}

/* addRealTokenRowsGradient(grad, gradOffset, vocabSize, width, ids, rows, maxLength, dRows) -> -1 or a bad id's index. */
napi_value add_real_token_rows_gradient(napi_env env, napi_callback_info info) {
  front_args a;
  if (!front_args_of(env, info, "addRealTokenRowsGradient", 0, &a)) return NULL;
  const int64_t tokens = a.rows * a.length;
  const int64_t bad = first_bad_id(a.ids, tokens, a.vocab);
  if (bad >= 0) return index_value(env, bad);
  float *grad = a.table + a.offset;
  for (int64_t p = 0; p < tokens; p++) {
    if (a.ids[p] == 0) continue;
    float *row = grad + (int64_t)a.ids[p] * a.width;
    const float *d = a.front + p * a.width;
    for (int64_t j = 0; j < a.width; j++) row[j] += d[j];
  }
  return index_value(env, -1);
}
