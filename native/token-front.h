/* A text student's fused embedding front while it trains (native/token-front.c). */
#ifndef TFJS_DISTILL_TOKEN_FRONT_H
#define TFJS_DISTILL_TOKEN_FRONT_H
#include <node_api.h>

napi_value real_token_mean(napi_env env, napi_callback_info info);
napi_value add_real_token_mean_gradient(napi_env env, napi_callback_info info);
napi_value real_token_rows(napi_env env, napi_callback_info info);
napi_value add_real_token_rows_gradient(napi_env env, napi_callback_info info);
#endif
