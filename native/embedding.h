/* An embedding's forward and gradient loops for the wasm heap (native/embedding.c). */
#ifndef TFJS_DISTILL_EMBEDDING_H
#define TFJS_DISTILL_EMBEDDING_H
#include <node_api.h>

napi_value gather_rows(napi_env env, napi_callback_info info);
napi_value segment_sum_rows(napi_env env, napi_callback_info info);
#endif
