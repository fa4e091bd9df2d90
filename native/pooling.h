/* Pooling kernels for the wasm heap (native/pooling.c), registered by blas.c. */
#ifndef TFJS_DISTILL_POOLING_H
#define TFJS_DISTILL_POOLING_H
#include <node_api.h>

napi_value max_pool_grad(napi_env env, napi_callback_info info);
#endif
