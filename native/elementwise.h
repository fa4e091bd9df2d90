/* Elementwise kernels for the wasm heap (native/elementwise.c): a bias added along the last axis. */
#ifndef TFJS_DISTILL_ELEMENTWISE_H
#define TFJS_DISTILL_ELEMENTWISE_H
#include <node_api.h>

napi_value bias_add(napi_env env, napi_callback_info info);
#endif
