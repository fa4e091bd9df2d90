/* Activation gradients for the wasm heap (native/activation-grad.c). */
#ifndef TFJS_DISTILL_ACTIVATION_GRAD_H
#define TFJS_DISTILL_ACTIVATION_GRAD_H
#include <node_api.h>

napi_value relu_grad(napi_env env, napi_callback_info info);
#endif
