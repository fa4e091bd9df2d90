/* The fused exchange's loops of a training step (native/averaged-update.c), registered by blas.c. */
#ifndef TFJS_DISTILL_AVERAGED_UPDATE_H
#define TFJS_DISTILL_AVERAGED_UPDATE_H
#include <node_api.h>

napi_value averaged_update(napi_env env, napi_callback_info info);
napi_value copy_bounded(napi_env env, napi_callback_info info);
#endif
