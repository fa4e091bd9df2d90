/* The addon's scratch buffers, one set per Node environment (native/scratch.h). */
#include "scratch.h"
#include <stdlib.h>

typedef struct {
  void *data[SCRATCH_KINDS];
  size_t capacity[SCRATCH_KINDS];
} scratch_t;

static void free_scratch(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  scratch_t *scratch = data;
  for (int kind = 0; kind < SCRATCH_KINDS; kind++) free(scratch->data[kind]);
  free(scratch);
}

void scratch_init(napi_env env) {
  scratch_t *scratch = calloc(1, sizeof *scratch);
  if (scratch != NULL && napi_set_instance_data(env, scratch, free_scratch, NULL) != napi_ok) free(scratch);
}

void *scratch_buffer(napi_env env, scratch_kind kind, size_t bytes) {
  scratch_t *scratch = NULL;
  if (napi_get_instance_data(env, (void **)&scratch) != napi_ok || scratch == NULL) return NULL;
  if (bytes > scratch->capacity[kind]) {
    /* A fresh buffer, not a realloc: what the old one held is not needed, so it is not copied. */
    free(scratch->data[kind]);
    scratch->data[kind] = malloc(bytes);
    scratch->capacity[kind] = scratch->data[kind] == NULL ? 0 : bytes;
  }
  return scratch->data[kind];
}
