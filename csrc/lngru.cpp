// Fused norm-GRU on the CPU (LayerNorm, RMSNorm or none): sequence forward and backward
// through time.
//
// Semantics (nn.GRUCell gate order r, z, n; the norm without shift over the 3H vector,
// lngru_norm.h):
//   a = norm(x W_ih^T) * gamma_ih + b_ih        c = norm(h W_hh^T) * gamma_hh + b_hh
//   r = sigmoid(a_r + c_r)   z = sigmoid(a_z + c_z)   n = tanh(a_n + r * c_n)
//   h' = (1 - z) * n + z * h
// Without a norm there are no gains either (exactly nn.GRUCell). reset[t, b] zeroes the
// state entering step t. The cell op is this with T = 1. One code path for all three
// norms: the row functions are templates on the norm kind.
//
// Cost structure: the input projection of all T steps is one product, each step is one
// recurrent product plus ONE fused pass per row (norm, gates, new state). Backward
// mirrors it, and the weight gradients are gathered by large products at the end.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>
#include <type_traits>

#include "lngru_activations.h"
#include "lngru_checks.h"
#include "pyrl.h"

namespace pyrl {
namespace {

using lngru_checks::check_arg;
using lngru_checks::check_inputs;
using lngru_checks::Dims;
using act::sigmoid_fn;
using act::tanh_fn;

// Rows of a step are independent; run them in parallel only when a chunk is worth a
// thread wake-up (A3C sizes run serially, which is also what one worker thread wants).
int64_t row_grain(int64_t row_len) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(row_len, 1)); }

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

// Backward of y = norm(v) * gamma given dy (grad of the post-gamma value) in `g`,
// overwritten in place with dv. With gy = dy*gamma and yhat = norm(v):
//   LayerNorm: dv = rstd * (gy - mean(gy) - yhat * mean(gy*yhat))
//   RMSNorm:   dv = rstd * (gy - yhat * mean(gy*yhat))       (no mean was subtracted)
template <Norm N, typename scalar_t>
inline void norm_backward_row(scalar_t* g, const scalar_t* yhat, const scalar_t* gamma,
                              scalar_t rstd, int64_t n) {
  static_assert(N != Norm::kNone, "no norm: nothing to do");
  using acc_t = at::opmath_type<scalar_t>;
  acc_t s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < n; ++j) {
    const acc_t gy = acc_t(g[j]) * gamma[j];
    s1 += gy;
    s2 += gy * yhat[j];
  }
  const acc_t m1 = N == Norm::kLayer ? s1 / n : acc_t(0), m2 = s2 / n;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const acc_t gy = acc_t(g[j]) * gamma[j];
    g[j] = static_cast<scalar_t>(acc_t(rstd) * (gy - m1 - acc_t(yhat[j]) * m2));
  }
}

// One row of the fused step after the norm: gains, biases, gates and the new state.
// xr/hr [3H] normalised (or raw) products, hp [H] state entering the step; writes
// gt [3H] = (r, z, n) and o [H] = h'. g_ih/g_hh are null without a norm (GAIN false).
template <typename scalar_t, bool GAIN>
void gates_row(const scalar_t* __restrict xr, const scalar_t* __restrict hr,
               const scalar_t* __restrict hp, const scalar_t* __restrict b_ih,
               const scalar_t* __restrict b_hh, const scalar_t* __restrict g_ih,
               const scalar_t* __restrict g_hh, scalar_t* __restrict gt,
               scalar_t* __restrict o, int64_t H) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    scalar_t a_r = xr[j], a_z = xr[H + j], a_n = xr[2 * H + j];
    scalar_t c_r = hr[j], c_z = hr[H + j], c_n = hr[2 * H + j];
    if constexpr (GAIN) {
      a_r *= g_ih[j]; a_z *= g_ih[H + j]; a_n *= g_ih[2 * H + j];
      c_r *= g_hh[j]; c_z *= g_hh[H + j]; c_n *= g_hh[2 * H + j];
    }
    a_r += b_ih[j]; a_z += b_ih[H + j]; a_n += b_ih[2 * H + j];
    c_r += b_hh[j]; c_z += b_hh[H + j]; c_n += b_hh[2 * H + j];
    const scalar_t r = sigmoid_fn(a_r + c_r);
    const scalar_t z = sigmoid_fn(a_z + c_z);
    const scalar_t n = tanh_fn(a_n + r * c_n);
    gt[j] = r;
    gt[H + j] = z;
    gt[2 * H + j] = n;
    o[j] = (scalar_t(1) - z) * n + z * hp[j];
  }
}

// Backward of gates_row for one row. go [H] grad of this step's output, dh [H] grad
// flowing back from later steps; writes da/dc [3H] (grads of a and c, post gain+bias)
// and dd [H] = the direct z*g path into the previous state.
template <typename scalar_t, bool GAIN>
void gates_backward_row(const scalar_t* __restrict go, const scalar_t* __restrict gt,
                        const scalar_t* __restrict hh, const scalar_t* __restrict hp,
                        const scalar_t* __restrict dh, const scalar_t* __restrict b_hh,
                        const scalar_t* __restrict g_hh, scalar_t* __restrict da,
                        scalar_t* __restrict dc, scalar_t* __restrict dd, int64_t H) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const scalar_t r = gt[j], z = gt[H + j], n = gt[2 * H + j];
    const scalar_t g = dh[j] + go[j];
    scalar_t c_n = hh[2 * H + j];
    if constexpr (GAIN) c_n *= g_hh[2 * H + j];
    c_n += b_hh[2 * H + j];
    const scalar_t dpre_n = g * (scalar_t(1) - z) * (scalar_t(1) - n * n);
    const scalar_t dpre_z = g * (hp[j] - n) * z * (scalar_t(1) - z);
    const scalar_t dpre_r = dpre_n * c_n * r * (scalar_t(1) - r);
    da[j] = dpre_r; da[H + j] = dpre_z; da[2 * H + j] = dpre_n;
    dc[j] = dpre_r; dc[H + j] = dpre_z; dc[2 * H + j] = dpre_n * r;
    dd[j] = g * z;
  }
}

// Calls f(std::integral_constant<Norm, N>{}) for the runtime norm: one instantiation each.
template <typename F>
void with_norm(Norm norm, F&& f) {
  switch (norm) {
    case Norm::kNone: f(std::integral_constant<Norm, Norm::kNone>{}); break;
    case Norm::kLayer: f(std::integral_constant<Norm, Norm::kLayer>{}); break;
    case Norm::kRms: f(std::integral_constant<Norm, Norm::kRms>{}); break;
  }
}

// hprev[B,H] = src[B,H] with the rows of reset_t zeroed; returns whether any row was reset.
template <typename scalar_t>
bool masked_state(scalar_t* hprev, const scalar_t* src, const bool* reset_t, int64_t B, int64_t H) {
  bool any = false;
  for (int64_t b = 0; b < B; ++b) any |= reset_t[b];
  if (!any) return false;
  for (int64_t b = 0; b < B; ++b) {
    if (reset_t[b]) std::fill(hprev + b * H, hprev + (b + 1) * H, scalar_t(0));
    else std::copy(src + b * H, src + (b + 1) * H, hprev + b * H);
  }
  return true;
}

}  // namespace

std::vector<at::Tensor> lngru_forward(
    const at::Tensor& x, const at::Tensor& h0, const at::Tensor& reset,
    const at::Tensor& weight_ih, const at::Tensor& weight_hh, const at::Tensor& bias_ih,
    const at::Tensor& bias_hh, const std::optional<at::Tensor>& gamma_ih,
    const std::optional<at::Tensor>& gamma_hh, double eps, const std::string& norm_name) {
  const Norm norm = lngru_checks::parse_norm(norm_name);
  const Dims d = check_inputs(x, h0, reset, weight_ih, weight_hh, bias_hh, gamma_ih, gamma_hh, &bias_ih, norm);
  TORCH_CHECK(x.device().is_cpu(), "lngru: the CPU op got tensors on ", x.device());
  TORCH_CHECK(eps > 0, "lngru: eps must be positive, got ", eps);
  const int64_t T = d.T, B = d.B, H = d.H, G = 3 * d.H;

  // Input projection for all T steps in one product; normalised in place below.
  at::Tensor xhat = at::mm(x.view({T * B, d.I}), weight_ih.t()).view({T, B, G});  // [T,B,3H]
  at::Tensor hhat = at::empty({T, B, G}, x.options());                            // [T,B,3H]
  at::Tensor out = at::empty({T, B, H}, x.options());                             // [T,B,H]
  at::Tensor rstd = at::ones({T, B, 2}, x.options());                             // [T,B,2] (x side, h side)
  at::Tensor gates = at::empty({T, B, G}, x.options());                           // [T,B,3H] r,z,n
  at::Tensor hbuf = at::empty({B, H}, x.options());                               // masked state entering t

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lngru_forward", [&] {
    with_norm(norm, [&](auto norm_c) {
      constexpr Norm N = decltype(norm_c)::value;
      constexpr bool kGain = N != Norm::kNone;
      const bool* rst = reset.data_ptr<bool>();
      const scalar_t* b_ih = bias_ih.data_ptr<scalar_t>();
      const scalar_t* b_hh = bias_hh.data_ptr<scalar_t>();
      const scalar_t* g_ih = kGain ? gamma_ih->data_ptr<scalar_t>() : nullptr;
      const scalar_t* g_hh = kGain ? gamma_hh->data_ptr<scalar_t>() : nullptr;
      const at::Tensor w_hh_t = weight_hh.t();
      for (int64_t t = 0; t < T; ++t) {
        const at::Tensor src = t == 0 ? h0 : out[t - 1];  // [B,H]
        const at::Tensor hprev =
            masked_state(hbuf.data_ptr<scalar_t>(), src.data_ptr<scalar_t>(), rst + t * B, B, H) ? hbuf : src;
        at::Tensor hw = hhat[t];  // [B,3H]
        at::mm_out(hw, hprev, w_hh_t);

        scalar_t* xr_all = xhat.data_ptr<scalar_t>() + t * B * G;
        scalar_t* hr_all = hw.data_ptr<scalar_t>();
        scalar_t* gt_all = gates.data_ptr<scalar_t>() + t * B * G;
        scalar_t* o_all = out.data_ptr<scalar_t>() + t * B * H;
        scalar_t* rs_all = rstd.data_ptr<scalar_t>() + t * B * 2;
        const scalar_t* hp_all = hprev.data_ptr<scalar_t>();
        at::parallel_for(0, B, row_grain(G), [&](int64_t b0, int64_t b1) {
          for (int64_t b = b0; b < b1; ++b) {
            scalar_t* xr = xr_all + b * G;
            scalar_t* hr = hr_all + b * G;
            if constexpr (kGain) {
              rs_all[b * 2] = norm_row<N>(xr, G, eps);
              rs_all[b * 2 + 1] = norm_row<N>(hr, G, eps);
            }
            gates_row<scalar_t, kGain>(xr, hr, hp_all + b * H, b_ih, b_hh, g_ih, g_hh,
                                       gt_all + b * G, o_all + b * H, H);
          }
        });
      }
    });
  });
  return {out, xhat, hhat, rstd, gates};
}

std::vector<at::Tensor> lngru_backward(
    const at::Tensor& grad_out_in, const at::Tensor& grad_hT_in, const at::Tensor& x,
    const at::Tensor& h0, const at::Tensor& reset, const at::Tensor& weight_ih,
    const at::Tensor& weight_hh, const at::Tensor& bias_hh,
    const std::optional<at::Tensor>& gamma_ih, const std::optional<at::Tensor>& gamma_hh,
    const at::Tensor& out, const at::Tensor& xhat, const at::Tensor& hhat,
    const at::Tensor& rstd, const at::Tensor& gates, const std::string& norm_name) {
  const Norm norm = lngru_checks::parse_norm(norm_name);
  const Dims d = check_inputs(x, h0, reset, weight_ih, weight_hh, bias_hh, gamma_ih, gamma_hh, nullptr, norm);
  TORCH_CHECK(x.device().is_cpu(), "lngru: the CPU op got tensors on ", x.device());
  const int64_t T = d.T, B = d.B, H = d.H, G = 3 * d.H;
  const bool gain = norm != Norm::kNone;
  // Upstream gradients may be expanded zeros or other views: make them plain.
  const at::Tensor grad_out = grad_out_in.contiguous();
  check_arg(grad_out, "grad_out", {T, B, H}, x);
  check_arg(out, "out", {T, B, H}, x);
  check_arg(xhat, "xhat", {T, B, G}, x);
  check_arg(hhat, "hhat", {T, B, G}, x);
  check_arg(rstd, "rstd", {T, B, 2}, x);
  check_arg(gates, "gates", {T, B, G}, x);

  // State entering each step, after its reset: [T,B,H]. Needed for dz and for dW_hh. A
  // select, not a product with (1 - reset): an inf or NaN state that a reset discards must
  // not turn into NaN (inf * 0) in the weight gradients.
  const at::Tensor hprev_all =
      at::cat({h0.unsqueeze(0), out.narrow(0, 0, T - 1)}, 0).masked_fill_(reset.unsqueeze(-1), 0);

  at::Tensor da = at::empty({T, B, G}, x.options());   // grad of a (input side, post gain+bias)
  at::Tensor dc = at::empty({T, B, G}, x.options());   // grad of c (recurrent side)
  at::Tensor dhw = gain ? at::empty({T, B, G}, x.options()) : dc;  // grad of h W_hh^T
  at::Tensor dh = grad_hT_in.contiguous().clone();     // [B,H] grad of the state leaving step t
  check_arg(dh, "grad_hT", {B, H}, x);
  at::Tensor dh_direct = at::empty({B, H}, x.options());  // the z * dh path to the previous state

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lngru_backward", [&] {
    with_norm(norm, [&](auto norm_c) {
      constexpr Norm N = decltype(norm_c)::value;
      constexpr bool kGain = N != Norm::kNone;
      const bool* rst = reset.data_ptr<bool>();
      const scalar_t* b_hh = bias_hh.data_ptr<scalar_t>();
      const scalar_t* g_hh = kGain ? gamma_hh->data_ptr<scalar_t>() : nullptr;
      for (int64_t t = T - 1; t >= 0; --t) {
        const scalar_t* go_all = grad_out.data_ptr<scalar_t>() + t * B * H;
        const scalar_t* gt_all = gates.data_ptr<scalar_t>() + t * B * G;
        const scalar_t* hh_all = hhat.data_ptr<scalar_t>() + t * B * G;
        const scalar_t* hp_all = hprev_all.data_ptr<scalar_t>() + t * B * H;
        const scalar_t* rs_all = rstd.data_ptr<scalar_t>() + t * B * 2;
        scalar_t* dh_all = dh.data_ptr<scalar_t>();
        scalar_t* dd_all = dh_direct.data_ptr<scalar_t>();
        scalar_t* da_all = da.data_ptr<scalar_t>() + t * B * G;
        scalar_t* dc_all = dc.data_ptr<scalar_t>() + t * B * G;
        scalar_t* dhw_all = dhw.data_ptr<scalar_t>() + t * B * G;
        at::parallel_for(0, B, row_grain(G), [&](int64_t b0, int64_t b1) {
          for (int64_t b = b0; b < b1; ++b) {
            scalar_t* dcr = dc_all + b * G;
            gates_backward_row<scalar_t, kGain>(go_all + b * H, gt_all + b * G, hh_all + b * G,
                                                hp_all + b * H, dh_all + b * H, b_hh, g_hh,
                                                da_all + b * G, dcr, dd_all + b * H, H);
            if constexpr (kGain) {
              scalar_t* dhwr = dhw_all + b * G;
              std::copy(dcr, dcr + G, dhwr);
              norm_backward_row<N>(dhwr, hh_all + b * G, g_hh, rs_all[b * 2 + 1], G);
            }
          }
        });
        // dh <- z*dh + dhw[t] W_hh, then nothing flows through a reset into the previous state.
        at::addmm_out(dh, dh_direct, dhw[t], weight_hh);
        bool any_reset = false;
        for (int64_t b = 0; b < B; ++b) any_reset |= rst[t * B + b];
        if (any_reset) {
          for (int64_t b = 0; b < B; ++b)
            if (rst[t * B + b]) std::fill(dh_all + b * H, dh_all + (b + 1) * H, scalar_t(0));
        }
      }
    });
  });

  // Bias and gain gradients are sums over all (t, b) rows: vectorised reductions.
  at::Tensor dbias_ih = da.sum(at::IntArrayRef{0, 1});
  at::Tensor dbias_hh = dc.sum(at::IntArrayRef{0, 1});
  at::Tensor dgamma_ih, dgamma_hh;
  at::Tensor dxw = da;  // grad of x W_ih^T, [T,B,3H]
  if (gain) {
    dgamma_ih = (da * xhat).sum(at::IntArrayRef{0, 1});
    dgamma_hh = (dc * hhat).sum(at::IntArrayRef{0, 1});
    // The input-side norm backward is off the recurrence: one parallel pass over all rows.
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lngru_backward_norm_x", [&] {
      with_norm(norm, [&](auto norm_c) {
        constexpr Norm N = decltype(norm_c)::value;
        if constexpr (N != Norm::kNone) {
          scalar_t* g_all = da.data_ptr<scalar_t>();
          const scalar_t* xh_all = xhat.data_ptr<scalar_t>();
          const scalar_t* rs_all = rstd.data_ptr<scalar_t>();
          const scalar_t* g_ih = gamma_ih->data_ptr<scalar_t>();
          at::parallel_for(0, T * B, row_grain(G), [&](int64_t r0, int64_t r1) {
            for (int64_t row = r0; row < r1; ++row)
              norm_backward_row<N>(g_all + row * G, xh_all + row * G, g_ih, rs_all[row * 2], G);
          });
        }
      });
    });
  } else {
    dgamma_ih = at::empty({0}, x.options());
    dgamma_hh = at::empty({0}, x.options());
  }
  // Weight gradients gathered by large products over all T*B rows.
  const at::Tensor dxw2 = dxw.view({T * B, G});
  at::Tensor dx = at::mm(dxw2, weight_ih).view({T, B, d.I});
  at::Tensor dweight_ih = at::mm(dxw2.t(), x.view({T * B, d.I}));
  at::Tensor dweight_hh = at::mm(dhw.view({T * B, G}).t(), hprev_all.view({T * B, H}));
  return {dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dgamma_ih, dgamma_hh};
}

}  // namespace pyrl
