/* The element-wise loops of a training step's exchange (native/exchange.c), registered by blas.c. */
#ifndef TFJS_DISTILL_EXCHANGE_H
#define TFJS_DISTILL_EXCHANGE_H
#include <node_api.h>

napi_value weighted_sum(napi_env env, napi_callback_info info);
napi_value all_finite(napi_env env, napi_callback_info info);
napi_value adam(napi_env env, napi_callback_info info);
napi_value momentum(napi_env env, napi_callback_info info);
napi_value sgd(napi_env env, napi_callback_info info);
#endif
