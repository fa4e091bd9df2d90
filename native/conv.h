/* Convolutions as im2col products (native/conv.c). */
#ifndef TFJS_DISTILL_CONV_H
#define TFJS_DISTILL_CONV_H
#include <node_api.h>

napi_value conv2d(napi_env env, napi_callback_info info);
#endif
