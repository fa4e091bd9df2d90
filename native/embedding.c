/*
 * An embedding's two loops for the wasm heap: its forward pass (gather whole rows of the table) and its
 * gradient (add each row of dy into the table row its id names). Both go row by row in id order, so the
 * sums are added in the order the JS kernel and the cpu backend add them.
 */
#include <stdint.h>
#include <string.h>
#include "napi-args.h"
#include "embedding.h"

/*
 * Reads (heap, xOffset, idsOffset, count, row, tableRows or numSegments, outOffset) and checks every range; ids
 * are int32 on the heap. The table is x for a gather (ids_in_x 0) and out for a segment sum (ids_in_x 1).
 */
static int embedding_args(napi_env env, napi_callback_info info, const char *fn, float **heap, int64_t *xo, int64_t *io,
                          int64_t *count, int64_t *row, int64_t *table_rows, int64_t *oo, int ids_in_x) {
  const char *table_name = ids_in_x ? "numSegments" : "tableRows";
  napi_value argv[7];
  size_t floats;
  if (!get_args(env, info, 7, argv) || !get_heap(env, argv[0], heap, &floats) || !get_i64(env, argv[1], xo) ||
      !get_i64(env, argv[2], io) || !get_i64(env, argv[3], count) || !get_i64(env, argv[4], row) ||
      !get_i64(env, argv[5], table_rows) || !get_i64(env, argv[6], oo))
    return 0;
  int64_t table, rows;
  if (!in_range(env, fn, "count", *count, 0, INT32_MAX) || !in_range(env, fn, "row", *row, 0, INT32_MAX) ||
      !in_range(env, fn, table_name, *table_rows, 0, INT32_MAX) ||
      !size_product(env, fn, "table x row", *table_rows, *row, &table) ||
      !size_product(env, fn, "count x row", *count, *row, &rows) || !in_heap(env, fn, "idsOffset", *io, *count, floats) ||
      !in_heap(env, fn, "xOffset", *xo, ids_in_x ? rows : table, floats) ||
      !in_heap(env, fn, "outOffset", *oo, ids_in_x ? table : rows, floats))
    return 0;
  return 1;
}

/* gatherRows(heap, tableOffset, idsOffset, count, row, tableRows, outOffset): out row i = table row ids[i] (4-byte words). */
napi_value gather_rows(napi_env env, napi_callback_info info) {
  float *heap;
  int64_t to, io, count, row, table_rows, oo;
  if (!embedding_args(env, info, "gatherRows", &heap, &to, &io, &count, &row, &table_rows, &oo, 0)) return NULL;
  const int32_t *ids = (const int32_t *)(heap + io);
  for (int64_t i = 0; i < count; i++)
    if (ids[i] < 0 || ids[i] >= table_rows) {
      fail(env, "tfjs-distill native: gatherRows id %d at %lld is outside [0, %lld)", ids[i], (long long)i, (long long)table_rows);
      return NULL;
    }
  const float *table = heap + to;
  float *out = heap + oo;
  for (int64_t i = 0; i < count; i++) memcpy(out + i * row, table + (int64_t)ids[i] * row, (size_t)row * sizeof(float));
  return NULL;
}

/*
 * segmentSumRows(heap, xOffset, idsOffset, count, row, numSegments, outOffset): out [numSegments, row] =
 * the sum of x's rows by id (float32), rows whose id is outside [0, numSegments) dropped, as in TensorFlow.
 */
napi_value segment_sum_rows(napi_env env, napi_callback_info info) {
  float *heap;
  int64_t xo, io, count, row, segments, oo;
  if (!embedding_args(env, info, "segmentSumRows", &heap, &xo, &io, &count, &row, &segments, &oo, 1)) return NULL;
  const int32_t *ids = (const int32_t *)(heap + io);
  const float *x = heap + xo;
  float *out = heap + oo;
  memset(out, 0, (size_t)(segments * row) * sizeof(float));
  for (int64_t i = 0; i < count; i++) {
    const int32_t s = ids[i];
    if (s < 0 || s >= segments) continue;
    float *to = out + (int64_t)s * row;
    const float *from = x + i * row;
    for (int64_t j = 0; j < row; j++) to[j] += from[j];
  }
  return NULL;
}
