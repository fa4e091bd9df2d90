/* A plain dense student's training pass, layer by layer (native/dense-chain.c). */
#ifndef TFJS_DISTILL_DENSE_CHAIN_H
#define TFJS_DISTILL_DENSE_CHAIN_H
#include <node_api.h>

napi_value dense_forward(napi_env env, napi_callback_info info);
napi_value dense_backward(napi_env env, napi_callback_info info);
#endif
