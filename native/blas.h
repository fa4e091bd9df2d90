/* OpenBLAS as blas.c loads it, for the kernels in other files that call sgemm (conv.c). */
#ifndef TFJS_DISTILL_BLAS_H
#define TFJS_DISTILL_BLAS_H
#include <node_api.h>

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
typedef void (*sgemm_fn)(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a,
                         int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* cblas_sgemm of the OpenBLAS that load() found; NULL until then. */
extern sgemm_fn openblas_sgemm;

/* 1 when OpenBLAS is loaded; otherwise throws in `env` and returns 0. */
int openblas_ready(napi_env env);
#endif
