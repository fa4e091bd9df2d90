/* Argument helpers shared by the addon's functions: every failure throws a JS Error and returns 0. */
#ifndef TFJS_DISTILL_NAPI_ARGS_H
#define TFJS_DISTILL_NAPI_ARGS_H
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CHECK(env, cond, msg)                  \
  do {                                         \
    if (!(cond)) {                             \
      napi_throw_error((env), NULL, (msg));    \
      return 0;                                \
    }                                          \
  } while (0)

static inline int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == want,
        "tfjs-distill native kernels: wrong number of arguments");
  return 1;
}

static inline int get_heap(napi_env env, napi_value value, float **heap, size_t *floats) {
  void *data;
  size_t bytes;
  CHECK(env, napi_get_arraybuffer_info(env, value, &data, &bytes) == napi_ok,
        "tfjs-distill native kernels: the heap must be an ArrayBuffer");
  *heap = (float *)data;
  *floats = bytes / sizeof(float);
  return 1;
}

static inline int get_i64(napi_env env, napi_value value, int64_t *out) {
  CHECK(env, napi_get_value_int64(env, value, out) == napi_ok, "tfjs-distill native kernels: expected a number");
  return 1;
}

static inline int get_f64(napi_env env, napi_value value, double *out) {
  CHECK(env, napi_get_value_double(env, value, out) == napi_ok, "tfjs-distill native kernels: expected a number");
  return 1;
}

/* [offset, offset + count) lies inside the heap of `floats` floats. */
static inline int in_heap(napi_env env, int64_t offset, int64_t count, size_t floats) {
  CHECK(env, offset >= 0 && count >= 0 && (uint64_t)(offset + count) <= floats,
        "tfjs-distill native kernels: a tensor lies outside the wasm heap");
  return 1;
}

/* A typed array of `want` type (e.g. napi_float32_array); `name` is its JS name for the error. */
static inline int get_typed_array(napi_env env, napi_value value, napi_typedarray_type want, const char *name, void **data,
                                  size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, length, data, &buffer, &offset) != napi_ok || type != want) {
    char message[96];
    snprintf(message, sizeof message, "tfjs-distill native: expected %s", name);
    napi_throw_error(env, NULL, message);
    return 0;
  }
  return 1;
}

static inline int get_i32_array(napi_env env, napi_value value, int32_t **data, size_t *length) {
  return get_typed_array(env, value, napi_int32_array, "an Int32Array", (void **)data, length);
}

static inline int get_f32_array(napi_env env, napi_value value, float **data, size_t *length) {
  return get_typed_array(env, value, napi_float32_array, "a Float32Array", (void **)data, length);
}

static inline int get_f64_array(napi_env env, napi_value value, double **data, size_t *length) {
  return get_typed_array(env, value, napi_float64_array, "a Float64Array", (void **)data, length);
}

#endif
