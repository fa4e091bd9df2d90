/* Elementwise kernels for the wasm heap (native/elementwise.c): a bias added along the last axis, and
 * an Equal that broadcasts by strides. */
#ifndef TFJS_DISTILL_ELEMENTWISE_H
#define TFJS_DISTILL_ELEMENTWISE_H
#include <node_api.h>

/* The most axes equalBroadcast takes (tfjs's broadcasting ops go to rank 6 at most on wasm). */
#define EQUAL_MAX_RANK 8

napi_value bias_add(napi_env env, napi_callback_info info);
napi_value equal_broadcast(napi_env env, napi_callback_info info);
#endif
