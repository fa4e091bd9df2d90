/* A cnn1d student's front while it trains: ids to each row's maximum per filter, and back (native/token-conv.c). */
#ifndef TFJS_DISTILL_TOKEN_CONV_H
#define TFJS_DISTILL_TOKEN_CONV_H
#include <node_api.h>

napi_value token_conv_forward(napi_env env, napi_callback_info info);
napi_value token_conv_backward(napi_env env, napi_callback_info info);
#endif
