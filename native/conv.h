/* Convolutions as im2col products (native/conv.c). */
#ifndef TFJS_DISTILL_CONV_H
#define TFJS_DISTILL_CONV_H
#include <node_api.h>

napi_value conv2d(napi_env env, napi_callback_info info);
/* The thread's im2col buffer, kept as the addon's instance data; called once per thread as the addon loads. */
void conv_instance_init(napi_env env);
#endif
