// The CPU norm-GRU's row passes, between csrc/lngru.cpp (the ops: checks, tensors, the
// loops over time and the matrix products) and csrc/lngru_rows.h (the passes themselves).
//
// The passes are compiled once per instruction set, as ATen compiles its CPU kernels per
// CPU_CAPABILITY: lngru_rows_default.cpp (the baseline x86-64 / any target) and
// lngru_rows_avx2.cpp (AVX2 + FMA; 8 floats per vector instead of 4, which halves the cost
// of the activations). lngru.cpp picks one set at run time (rows_for_this_cpu()).
// Shape letters: T time, B batch, I input, H hidden; G = 3H.
#pragma once
#include <ATen/OpMathType.h>

#include <cstdint>

#include "lngru_norm.h"

namespace pyrl {
namespace lngru_cpu {

// Raw views of the forward's tensors (all contiguous).
template <typename scalar_t>
struct ForwardArgs {
  int64_t T, B, I, H;
  const scalar_t* h0;     // [B,H]
  const bool* reset;      // [T,B]
  const scalar_t* b_ih;   // [3H]
  const scalar_t* b_hh;   // [3H]
  const scalar_t* g_ih;   // [3H] or null (no norm)
  const scalar_t* g_hh;   // [3H] or null
  const scalar_t* zeros;  // [H] zeros: the state a reset starts from
  double eps;
  scalar_t* xhat;         // [T,B,3H] x W_ih^T in; normalised in place (raw without a norm)
  scalar_t* hhat;         // [T,B,3H] h W_hh^T of the state before resets in; normalised
  scalar_t* out;          // [T,B,H]  out
  scalar_t* rstd;         // [T,B,2]  out: x side, h side (1 without a norm)
  scalar_t* gates;        // [T,B,3H] out: r, z, n
};

template <typename scalar_t>
struct BackwardArgs {
  int64_t T, B, I, H;
  const scalar_t* grad_out;  // [T,B,H]
  const bool* reset;         // [T,B]
  const scalar_t* b_hh;      // [3H]
  const scalar_t* g_ih;      // [3H] or null (no norm)
  const scalar_t* g_hh;      // [3H] or null
  const scalar_t* xhat;      // [T,B,3H] from forward
  const scalar_t* hhat;      // [T,B,3H] from forward
  const scalar_t* rstd;      // [T,B,2]  from forward
  const scalar_t* gates;     // [T,B,3H] from forward
  const scalar_t* hprev;     // [T,B,H]  state entering each step, resets applied
  const scalar_t* zeros;     // [H] zeros: what a reset leaves of a gradient row
  scalar_t* dh;              // [B,H]    grad of the state leaving the current step
  scalar_t* da;              // [T,B,3H] grad of a; ends as the grad of x W_ih^T
  scalar_t* dc;              // [T,B,3H] grad of c
  scalar_t* dhw;             // [T,B,3H] grad of h W_hh^T (the same array as dc without a norm)
};

// One instruction set's passes; `norm` picks the instantiation inside.
template <typename scalar_t>
struct Rows {
  using acc_t = at::opmath_type<scalar_t>;
  // Forward, step t, rows [b0, b1): the reset (a select), both norms, gates and new state.
  void (*forward)(const ForwardArgs<scalar_t>& a, Norm norm, int64_t t, int64_t b0, int64_t b1);
  // Backward, step t, rows [b0, b1): the reset cut of dh (a select), gates backward,
  // dh <- z * dh, and the recurrent-side norm backward into dhw.
  void (*backward)(const BackwardArgs<scalar_t>& a, Norm norm, int64_t t, int64_t b0, int64_t b1);
  // After the loop, rows [r0, r1) of all T*B: adds their bias and gain gradient terms to
  // sums [4,3H] (db_ih, db_hh, dg_ih, dg_hh; the last two with a norm only) and turns da
  // into the grad of x W_ih^T (the input-side norm backward).
  void (*backward_final)(const BackwardArgs<scalar_t>& a, Norm norm, int64_t r0, int64_t r1,
                         acc_t* sums);
};

// The two sets (each defined in its own translation unit).
namespace cpu_default {
template <typename scalar_t>
Rows<scalar_t> rows();
}  // namespace cpu_default
namespace cpu_avx2 {
template <typename scalar_t>
Rows<scalar_t> rows();
}  // namespace cpu_avx2

}  // namespace lngru_cpu
}  // namespace pyrl
