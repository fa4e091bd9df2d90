/* Argument helpers shared by the addon's functions: every failure throws a JS Error and returns 0. */
#ifndef TFJS_DISTILL_NAPI_ARGS_H
#define TFJS_DISTILL_NAPI_ARGS_H
#include <math.h>
#include <node_api.h>
#include <stdarg.h>
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

/* Throws a JS Error with a printf-formatted message; returns 0. */
static inline int fail(napi_env env, const char *format, ...) {
  char message[256];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  napi_throw_error(env, NULL, message);
  return 0;
}

/* An integer within +-2^53: napi_get_value_int64 alone would truncate 2.5 to 2 and read NaN as 0. */
static inline int get_i64(napi_env env, napi_value value, int64_t *out) {
  double number;
  CHECK(env, napi_get_value_double(env, value, &number) == napi_ok, "tfjs-distill native kernels: expected a number");
  if (!(fabs(number) <= 9007199254740992.0) || number != trunc(number))
    return fail(env, "tfjs-distill native kernels: expected an integer, got %g", number);
  *out = (int64_t)number;
  return 1;
}

/* Argument `name` of `fn` lies in [min, max]. */
static inline int in_range(napi_env env, const char *fn, const char *name, int64_t value, int64_t min, int64_t max) {
  if (value >= min && value <= max) return 1;
  return fail(env, "tfjs-distill native: %s %s is %lld; it must be in [%lld, %lld]", fn, name, (long long)value, (long long)min,
              (long long)max);
}

/* *out = a * b for sizes a, b >= 0, refusing a product past int64 (which geometry from Int32Arrays can reach). */
static inline int size_product(napi_env env, const char *fn, const char *name, int64_t a, int64_t b, int64_t *out) {
  if (__builtin_mul_overflow(a, b, out))
    return fail(env, "tfjs-distill native: %s %s overflows (%lld x %lld)", fn, name, (long long)a, (long long)b);
  return 1;
}

/*
 * Each of the `count` geometry numbers p[i], called names[i], is at least minimum[i] (sizes 0, strides and
 * dilations 1); an Int32Array bounds them above.
 */
static inline int check_geometry(napi_env env, const char *fn, const int32_t *p, const char *const *names, const int32_t *minimum,
                                 size_t count) {
  for (size_t i = 0; i < count; i++) {
    if (!in_range(env, fn, names[i], p[i], minimum[i], INT32_MAX)) return 0;
  }
  return 1;
}

static inline int get_f64(napi_env env, napi_value value, double *out) {
  CHECK(env, napi_get_value_double(env, value, out) == napi_ok, "tfjs-distill native kernels: expected a number");
  return 1;
}

/*
 * [offset, offset + count) lies inside the heap of `floats` floats; `name` is the offset's argument. A heap
 * detached by the wasm memory growing has 0 floats, so a stale heap fails here too.
 */
static inline int in_heap(napi_env env, const char *fn, const char *name, int64_t offset, int64_t count, size_t floats) {
  if (count < 0 || (uint64_t)count > floats)
    return fail(env, "tfjs-distill native: %s %s: %lld floats lie outside the wasm heap of %zu floats", fn, name, (long long)count, floats);
  const uint64_t last = floats - (uint64_t)count;
  if (offset < 0 || (uint64_t)offset > last)
    return fail(env,
                "tfjs-distill native: %s %s is %lld, so %lld floats there lie outside the wasm heap of %zu floats; "
                "it must be in [0, %llu]",
                fn, name, (long long)offset, (long long)count, floats, (unsigned long long)last);
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
