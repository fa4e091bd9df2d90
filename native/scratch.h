/*
 * Scratch buffers the addon's functions keep from call to call, per Node environment (the main thread and
 * each worker thread): N-API instance data, freed with the environment when its thread ends. A buffer
 * kept in thread-local storage instead would outlive a worker thread that ends while the process lives on
 * (a pool closed, a worker restarted), and leak with every such thread.
 */
#ifndef TFJS_DISTILL_SCRATCH_H
#define TFJS_DISTILL_SCRATCH_H
#include <stddef.h>
#include <node_api.h>

/* Each function's own buffer: none is used by two functions, so none is overwritten by another's call. */
typedef enum { SCRATCH_IM2COL, SCRATCH_EQUAL_WINDOWS, SCRATCH_TRANSPOSED_FILTERS, SCRATCH_KINDS } scratch_kind;

/* Makes this environment's (empty) buffers its instance data; called once as the addon loads in a thread. */
void scratch_init(napi_env env);
/*
 * Buffer `kind` of this environment, of at least `bytes` bytes, grown when needed (what it held is then not
 * kept), or NULL when it cannot be allocated.
 */
void *scratch_buffer(napi_env env, scratch_kind kind, size_t bytes);
#endif
