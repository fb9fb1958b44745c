// The CPU norm-GRU's fused row passes (declared in lngru_cpu.h). Included by one translation
// unit per instruction set, which defines PYRL_CPU_CAPABILITY (the namespace, so that every
// function here is a distinct symbol per set) and may compile it for that set.
//
// Rule for this file: no standard-library templates (std::fill, std::pair, ...) and no
// other header: a template first instantiated here under `#pragma GCC target("avx2")` is
// emitted as a weak symbol with AVX2 code, and the linker could pick it for the baseline
// set too (illegal instructions on a CPU without AVX2). Plain loops instead.
//
// Vectorisation: the loops over a row carry `#pragma omp simd` (with -fopenmp) and the
// float activations are branch-free (lngru_activations.h); -fno-trapping-math (setup.py)
// lets their selects if-convert.
#ifndef PYRL_CPU_CAPABILITY
#error "define PYRL_CPU_CAPABILITY (the namespace of this instruction set) before including lngru_rows.h"
#endif

namespace pyrl {
namespace lngru_cpu {
namespace PYRL_CPU_CAPABILITY {

using act::sigmoid_fn;
using act::tanh_fn;

// In place over one row of n values: v <- (v - mean) * rstd (LayerNorm without shift) or
// v <- v * rstd (RMSNorm); returns rstd. Accumulates in the op's math type.
template <Norm N, typename scalar_t>
inline scalar_t norm_row(scalar_t* v, int64_t n, double eps) {
  static_assert(N != Norm::kNone, "no norm: nothing to do");
  using acc_t = at::opmath_type<scalar_t>;
  acc_t mean = 0;
  if constexpr (N == Norm::kLayer) {
    acc_t sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; ++j) sum += v[j];
    mean = sum / n;
  }
  acc_t sq = 0;  // two passes for LayerNorm: squared deviations from the mean
#pragma omp simd reduction(+ : sq)
  for (int64_t j = 0; j < n; ++j) {
    const acc_t d = v[j] - mean;
    sq += d * d;
  }
  const acc_t rstd = acc_t(1) / std::sqrt(sq / n + acc_t(eps));
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) v[j] = (v[j] - mean) * rstd;
  return static_cast<scalar_t>(rstd);
}

// Backward of y = norm(v) * gamma: dv [n] from g [n] (grad of the post-gamma value; dv may
// be g itself, updated in place), yhat = norm(v) [n], rstd, and the sums
// s1 = sum(g*gamma), s2 = sum(g*gamma*yhat). With gy = g*gamma:
//   LayerNorm: dv = rstd * (gy - mean(gy) - yhat * mean(gy*yhat))
//   RMSNorm:   dv = rstd * (gy - yhat * mean(gy*yhat))       (no mean was subtracted)
template <Norm N, typename scalar_t>
inline void norm_backward_from_sums(scalar_t* dv, const scalar_t* g, const scalar_t* __restrict yhat,
                                    const scalar_t* __restrict gamma, scalar_t rstd,
                                    at::opmath_type<scalar_t> s1, at::opmath_type<scalar_t> s2,
                                    int64_t n) {
  static_assert(N != Norm::kNone, "no norm: nothing to do");
  using acc_t = at::opmath_type<scalar_t>;
  const acc_t m1 = N == Norm::kLayer ? s1 / n : acc_t(0), m2 = s2 / n;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j)
    dv[j] = static_cast<scalar_t>(acc_t(rstd) * (acc_t(g[j]) * gamma[j] - m1 - acc_t(yhat[j]) * m2));
}

// One row of the fused step after the norm: gains, biases, gates and the new state.
// xr/hr [3H] normalised (or raw) products, hp [H] state entering the step; writes
// gt [3H] = (r, z, n) and o [H] = h'. g_ih/g_hh are null without a norm (GAIN false).
template <typename scalar_t, bool GAIN>
inline void gates_row(const scalar_t* __restrict xr, const scalar_t* __restrict hr,
                      const scalar_t* __restrict hp, const scalar_t* __restrict b_ih,
                      const scalar_t* __restrict b_hh, const scalar_t* __restrict g_ih,
                      const scalar_t* __restrict g_hh, scalar_t* __restrict gt,
                      scalar_t* __restrict o, int64_t H) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const act::Gates<scalar_t> g = act::gru_gates<scalar_t, GAIN>(xr, hr, b_ih, b_hh, g_ih, g_hh, hp[j], H, j);
    gt[j] = g.r;
    gt[H + j] = g.z;
    gt[2 * H + j] = g.n;
    o[j] = g.h;
  }
}

template <typename acc_t>
struct Sums {
  acc_t s1, s2;
};

// Backward of gates_row for one row, and the z*g path into the previous state. go [H] grad
// of this step's output; dh_in [H] grad of the state leaving the step from later steps (a
// row of zeros where a reset at the next step discarded that state: a select, not
// dh * (1 - cut), as a discarded row may hold anything); dh_out [H] (may be dh_in) gets
// dd = z * g. Writes da/dc [3H] (grads of a and c, post gain+bias). With gains, also
// returns the two sums the recurrent-side norm backward needs, sum(dc*gamma_hh) and
// sum(dc*gamma_hh*hhat), gathered in the same pass.
template <typename scalar_t, bool GAIN>
inline Sums<at::opmath_type<scalar_t>> gates_backward_row(
    const scalar_t* __restrict go, const scalar_t* __restrict gt, const scalar_t* __restrict hh,
    const scalar_t* __restrict hp, const scalar_t* dh_in, scalar_t* dh_out,
    const scalar_t* __restrict b_hh, const scalar_t* __restrict g_hh, scalar_t* __restrict da,
    scalar_t* __restrict dc, int64_t H) {
  using acc_t = at::opmath_type<scalar_t>;
  acc_t s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < H; ++j) {
    const scalar_t r = gt[j], z = gt[H + j], n = gt[2 * H + j];
    const scalar_t g = dh_in[j] + go[j];
    scalar_t c_n = hh[2 * H + j];
    if constexpr (GAIN) c_n *= g_hh[2 * H + j];
    c_n += b_hh[2 * H + j];
    const scalar_t dpre_n = g * (scalar_t(1) - z) * (scalar_t(1) - n * n);
    const scalar_t dpre_z = g * (hp[j] - n) * z * (scalar_t(1) - z);
    const scalar_t dpre_r = dpre_n * c_n * r * (scalar_t(1) - r);
    const scalar_t dc_n = dpre_n * r;
    da[j] = dpre_r; da[H + j] = dpre_z; da[2 * H + j] = dpre_n;
    dc[j] = dpre_r; dc[H + j] = dpre_z; dc[2 * H + j] = dc_n;
    dh_out[j] = g * z;
    if constexpr (GAIN) {
      const acc_t gy_r = acc_t(dpre_r) * g_hh[j], gy_z = acc_t(dpre_z) * g_hh[H + j],
                  gy_n = acc_t(dc_n) * g_hh[2 * H + j];
      s1 += gy_r + gy_z + gy_n;
      s2 += gy_r * hh[j] + gy_z * hh[H + j] + gy_n * hh[2 * H + j];
    }
  }
  return {s1, s2};
}

template <typename scalar_t, Norm N>
void forward_rows_n(const ForwardArgs<scalar_t>& a, int64_t t, int64_t b0, int64_t b1) {
  constexpr bool kGain = N != Norm::kNone;
  const int64_t B = a.B, H = a.H, G = 3 * a.H;
  const scalar_t* hprev = t == 0 ? a.h0 : a.out + (t - 1) * B * H;  // [B,H] before resets
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t row = t * B + b;
    scalar_t* xr = a.xhat + row * G;
    scalar_t* hr = a.hhat + row * G;
    const bool cut = a.reset[row];
    // A reset row's product is replaced by that of the zero state, zeros (a select: an
    // inf/NaN state it discards leaves no trace), and the gates see the zero state.
    const scalar_t* hp = cut ? a.zeros : hprev + b * H;
    if (cut)
      for (int64_t k = 0; k < G; ++k) hr[k] = scalar_t(0);
    scalar_t* rs = a.rstd + row * 2;
    if constexpr (kGain) {
      rs[0] = norm_row<N>(xr, G, a.eps);
      rs[1] = norm_row<N>(hr, G, a.eps);
    } else {
      rs[0] = rs[1] = scalar_t(1);
    }
    gates_row<scalar_t, kGain>(xr, hr, hp, a.b_ih, a.b_hh, a.g_ih, a.g_hh, a.gates + row * G,
                               a.out + row * H, H);
  }
}

template <typename scalar_t, Norm N>
void backward_rows_n(const BackwardArgs<scalar_t>& a, int64_t t, int64_t b0, int64_t b1) {
  constexpr bool kGain = N != Norm::kNone;
  const int64_t T = a.T, B = a.B, H = a.H, G = 3 * a.H;
  // dh holds the grad of the state leaving step t; where step t+1 reset, that state was
  // discarded: its rows read as zeros (grad_hT at t = T-1 is never cut).
  const bool* cut = t + 1 < T ? a.reset + (t + 1) * B : nullptr;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t row = t * B + b;
    const scalar_t* hh = a.hhat + row * G;
    scalar_t* dcr = a.dc + row * G;
    scalar_t* dh = a.dh + b * H;
    const auto sums = gates_backward_row<scalar_t, kGain>(
        a.grad_out + row * H, a.gates + row * G, hh, a.hprev + row * H,
        cut != nullptr && cut[b] ? a.zeros : dh, dh, a.b_hh, a.g_hh, a.da + row * G, dcr, H);
    if constexpr (kGain)
      norm_backward_from_sums<N>(a.dhw + row * G, dcr, hh, a.g_hh, a.rstd[row * 2 + 1], sums.s1,
                                 sums.s2, G);
  }
}

template <typename scalar_t, Norm N>
void backward_final_n(const BackwardArgs<scalar_t>& a, int64_t r0, int64_t r1,
                      at::opmath_type<scalar_t>* sums) {
  constexpr bool kGain = N != Norm::kNone;
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t G = 3 * a.H;
  // Locals, not a.member inside the loop: the stores to sums could alias `a` otherwise,
  // which reloads every pointer per element and stops the vectoriser.
  const scalar_t* __restrict g_ih = a.g_ih;
  acc_t* __restrict db_ih = sums;
  acc_t* __restrict db_hh = sums + G;
  acc_t* __restrict dg_ih = sums + 2 * G;
  acc_t* __restrict dg_hh = sums + 3 * G;
  for (int64_t row = r0; row < r1; ++row) {
    scalar_t* __restrict dar = a.da + row * G;
    const scalar_t* __restrict dcr = a.dc + row * G;
    const scalar_t* __restrict xh = a.xhat + row * G;
    const scalar_t* __restrict hh = a.hhat + row * G;
    acc_t s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
    for (int64_t k = 0; k < G; ++k) {
      const acc_t da_k = dar[k], dc_k = dcr[k];
      db_ih[k] += da_k;
      db_hh[k] += dc_k;
      if constexpr (kGain) {
        dg_ih[k] += da_k * xh[k];
        dg_hh[k] += dc_k * hh[k];
        const acc_t gy = da_k * g_ih[k];
        s1 += gy;
        s2 += gy * xh[k];
      }
    }
    if constexpr (kGain)  // in place, while the row is in cache: da -> grad of x W_ih^T
      norm_backward_from_sums<N>(dar, dar, xh, g_ih, a.rstd[row * 2], s1, s2, G);
  }
}

template <typename scalar_t>
void forward_rows(const ForwardArgs<scalar_t>& a, Norm norm, int64_t t, int64_t b0, int64_t b1) {
  switch (norm) {
    case Norm::kNone: forward_rows_n<scalar_t, Norm::kNone>(a, t, b0, b1); break;
    case Norm::kLayer: forward_rows_n<scalar_t, Norm::kLayer>(a, t, b0, b1); break;
    case Norm::kRms: forward_rows_n<scalar_t, Norm::kRms>(a, t, b0, b1); break;
  }
}

template <typename scalar_t>
void backward_rows(const BackwardArgs<scalar_t>& a, Norm norm, int64_t t, int64_t b0, int64_t b1) {
  switch (norm) {
    case Norm::kNone: backward_rows_n<scalar_t, Norm::kNone>(a, t, b0, b1); break;
    case Norm::kLayer: backward_rows_n<scalar_t, Norm::kLayer>(a, t, b0, b1); break;
    case Norm::kRms: backward_rows_n<scalar_t, Norm::kRms>(a, t, b0, b1); break;
  }
}

template <typename scalar_t>
void backward_final(const BackwardArgs<scalar_t>& a, Norm norm, int64_t r0, int64_t r1,
                    at::opmath_type<scalar_t>* sums) {
  switch (norm) {
    case Norm::kNone: backward_final_n<scalar_t, Norm::kNone>(a, r0, r1, sums); break;
    case Norm::kLayer: backward_final_n<scalar_t, Norm::kLayer>(a, r0, r1, sums); break;
    case Norm::kRms: backward_final_n<scalar_t, Norm::kRms>(a, r0, r1, sums); break;
  }
}

template <typename scalar_t>
Rows<scalar_t> rows() {
  return Rows<scalar_t>{&forward_rows<scalar_t>, &backward_rows<scalar_t>,
                        &backward_final<scalar_t>};
}

template Rows<float> rows<float>();
template Rows<double> rows<double>();

}  // namespace PYRL_CPU_CAPABILITY
}  // namespace lngru_cpu
}  // namespace pyrl
