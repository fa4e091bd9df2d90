/*
 * A cnn1d student's front while it trains: ids to each row's maximum per filter (native/token-conv.c, which
 * documents the layout and the index), and back (native/token-conv-backward.c).
 */
#ifndef TFJS_DISTILL_TOKEN_CONV_H
#define TFJS_DISTILL_TOKEN_CONV_H
#include <stdint.h>
#include <node_api.h>
#include "spans.h"

enum { LAYOUT_TABLE, LAYOUT_VOCAB, LAYOUT_WIDTH, LAYOUT_KERNEL, LAYOUT_BIAS, LAYOUT_KERNEL_SIZE, LAYOUT_FILTERS, LAYOUT_LENGTH, LAYOUT_SIZE };

/* A call's arguments, read and checked by conv_args_of; the index's four parts point into the index. */
typedef struct {
  float *weights;
  int64_t table, vocab, width, kernel, bias, kernel_size, filters, length, rows, span, pad_left;
  const float *ids;
  float *col, *out, *pooled;
  int32_t *row_start, *argmax, *tied, *positions;
  int64_t index_count;
} conv_args;

/* Reads (weights, layout, ids, rows, col, out, pooled, index) from argv and checks them against each other. */
int conv_args_of(napi_env env, const char *fn, napi_value *argv, conv_args *a);
/* The eight ranges every call reads or writes (those the forward pass writes marked written when `forward`). */
void conv_spans(const conv_args *a, int forward, span *spans);
/* -1 when every id is a whole number in [0, vocab), else the index of the first that is not. */
int64_t conv_first_bad_id(const float *ids, int64_t count, int64_t vocab);

napi_value token_conv_forward(napi_env env, napi_callback_info info);
napi_value token_conv_backward(napi_env env, napi_callback_info info);
#endif
