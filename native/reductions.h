/* Reductions for the wasm heap (native/reductions.c): a max pool's gradient and a sum over leading axes. */
#ifndef TFJS_DISTILL_REDUCTIONS_H
#define TFJS_DISTILL_REDUCTIONS_H
#include <node_api.h>

napi_value max_pool_2x2(napi_env env, napi_callback_info info);
napi_value max_pool_grad(napi_env env, napi_callback_info info);
napi_value sum_leading_axes(napi_env env, napi_callback_info info);
#endif
