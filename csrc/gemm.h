// Row-major matrix products on torch's own BLAS, called directly on raw pointers (defined in
// csrc/lngru.cpp, where the BLAS is found; the acting step uses them too).
#pragma once
#include <cstdint>

namespace pyrl {

// C[M,N] = op(A) op(B) + beta * C, beta 0 (C is not read) or 1: A stored [M,K] (trans_a:
// [K,M]) with row stride lda, B [K,N] (trans_b: [N,K]) with ldb, C with ldc. Sizes positive
// and below 2^31. Through at::mm where torch's sgemm_/dgemm_ were not found.
template <typename scalar_t>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const scalar_t* A,
          int64_t lda, const scalar_t* B, int64_t ldb, scalar_t beta, scalar_t* C, int64_t ldc);

// Fails (one line, why) where PYRL_CPU_BLAS is invalid or asks for a path that cannot be
// taken; every op that calls gemm checks it first, outside any parallel region.
void check_blas_choice();

extern template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t,
                                 const float*, int64_t, float, float*, int64_t);
extern template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                  const double*, int64_t, double, double*, int64_t);

}  // namespace pyrl
