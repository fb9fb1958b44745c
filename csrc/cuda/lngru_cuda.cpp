// The fused norm-GRU (LayerNorm, RMSNorm or none) on CUDA tensors: pyrl::lngru_forward_cuda / lngru_backward_cuda
// (declared in pyrl.h, dispatched to by bindings.cpp). Same checks, same math and the same
// saved tensors as the CPU op in csrc/lngru.cpp; read that file first.
//
// Cost structure, as on the CPU: the input projection of all T steps is one product
// (cuBLAS through at::mm), each step is one recurrent product plus ONE fused kernel (both
// norms, gates, new state, and the reset of the state entering the next step).
// Backward: per step one fused kernel (gates backward, recurrent-side norm backward,
// the reset mask of the incoming gradient) plus one product; after the loop one kernel for
// the input-side norm backward of all T*B rows and large products for the weight
// gradients. Everything is enqueued on the current stream; nothing synchronises.
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <limits>

#include "lngru_checks.h"
#include "lngru_kernels.h"
#include "pyrl.h"

namespace pyrl {
namespace {

using lngru_checks::check_arg;
using lngru_checks::Dims;

// The shared checks (csrc/lngru_checks.h), then what only the CUDA op needs.
Dims check_inputs(const at::Tensor& x, const at::Tensor& h0, const at::Tensor& reset,
                  const at::Tensor& weight_ih, const at::Tensor& weight_hh,
                  const at::Tensor& bias_hh, const std::optional<at::Tensor>& gamma_ih,
                  const std::optional<at::Tensor>& gamma_hh, const at::Tensor* bias_ih,
                  Norm norm) {
  const Dims d = lngru_checks::check_inputs(x, h0, reset, weight_ih, weight_hh, bias_hh, gamma_ih,
                                            gamma_hh, bias_ih, norm);
  TORCH_CHECK(x.is_cuda(), "lngru: the CUDA op got tensors on ", x.device());
  // One thread block per row: the grid's x dimension bounds the rows of one launch.
  TORCH_CHECK(d.T * d.B <= std::numeric_limits<int32_t>::max(),
              "lngru: T*B must be below 2^31 on CUDA, got T=", d.T, " B=", d.B);
  return d;
}

}  // namespace

std::vector<at::Tensor> lngru_forward_cuda(
    const at::Tensor& x, const at::Tensor& h0, const at::Tensor& reset,
    const at::Tensor& weight_ih, const at::Tensor& weight_hh, const at::Tensor& bias_ih,
    const at::Tensor& bias_hh, const std::optional<at::Tensor>& gamma_ih,
    const std::optional<at::Tensor>& gamma_hh, double eps, const std::string& norm_name) {
  const Norm norm = lngru_checks::parse_norm(norm_name);
  const Dims d = check_inputs(x, h0, reset, weight_ih, weight_hh, bias_hh, gamma_ih, gamma_hh, &bias_ih, norm);
  TORCH_CHECK(eps > 0, "lngru: eps must be positive, got ", eps);
  const c10::cuda::CUDAGuard guard(x.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t T = d.T, B = d.B, H = d.H, G = 3 * d.H;
  const bool gain = norm != Norm::kNone;

  // Input projection for all T steps in one product; normalised in place by the steps.
  at::Tensor xhat = at::mm(x.view({T * B, d.I}), weight_ih.t()).view({T, B, G});  // [T,B,3H]
  at::Tensor hhat = at::empty({T, B, G}, x.options());                            // [T,B,3H]
  at::Tensor out = at::empty({T, B, H}, x.options());                             // [T,B,H]
  at::Tensor rstd = at::empty({T, B, 2}, x.options());  // [T,B,2] (x side, h side); 1 without a norm
  at::Tensor gates = at::empty({T, B, G}, x.options());                           // [T,B,3H] r,z,n
  at::Tensor hbuf = at::empty({2, B, H}, x.options());  // state entering t, t+1 (reset applied)

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lngru_forward_cuda", [&] {
    const bool* rst = reset.data_ptr<bool>();
    const scalar_t* b_ih = bias_ih.data_ptr<scalar_t>();
    const scalar_t* b_hh = bias_hh.data_ptr<scalar_t>();
    const scalar_t* g_ih = gain ? gamma_ih->data_ptr<scalar_t>() : nullptr;
    const scalar_t* g_hh = gain ? gamma_hh->data_ptr<scalar_t>() : nullptr;
    scalar_t* xhat_p = xhat.data_ptr<scalar_t>();
    scalar_t* hhat_p = hhat.data_ptr<scalar_t>();
    scalar_t* out_p = out.data_ptr<scalar_t>();
    scalar_t* rstd_p = rstd.data_ptr<scalar_t>();
    scalar_t* gates_p = gates.data_ptr<scalar_t>();
    const at::Tensor w_hh_t = weight_hh.t();
    const at::Tensor hb[2] = {hbuf[0], hbuf[1]};  // [B,H] each: ping-pong state buffers
    C10_CUDA_CHECK(cuda::lngru_mask_rows<scalar_t>(hb[0].data_ptr<scalar_t>(),
                                                   h0.data_ptr<scalar_t>(), rst, B, H, stream));
    for (int64_t t = 0; t < T; ++t) {
      const at::Tensor& hprev = hb[t % 2];        // [B,H] state entering step t
      const at::Tensor& hnext = hb[(t + 1) % 2];  // [B,H] state entering step t+1
      at::Tensor hw = hhat[t];                    // [B,3H]
      at::mm_out(hw, hprev, w_hh_t);
      C10_CUDA_CHECK(cuda::lngru_forward_step<scalar_t>(
          xhat_p + t * B * G, hhat_p + t * B * G, hprev.data_ptr<scalar_t>(), b_ih, b_hh,
          g_ih, g_hh, rstd_p + t * B * 2, gates_p + t * B * G, out_p + t * B * H,
          hnext.data_ptr<scalar_t>(), t + 1 < T ? rst + (t + 1) * B : nullptr, B, H, eps, norm,
          stream));
    }
  });
  return {out, xhat, hhat, rstd, gates};
}

std::vector<at::Tensor> lngru_backward_cuda(
    const at::Tensor& grad_out_in, const at::Tensor& grad_hT_in, const at::Tensor& x,
    const at::Tensor& h0, const at::Tensor& reset, const at::Tensor& weight_ih,
    const at::Tensor& weight_hh, const at::Tensor& bias_hh,
    const std::optional<at::Tensor>& gamma_ih, const std::optional<at::Tensor>& gamma_hh,
    const at::Tensor& out, const at::Tensor& xhat, const at::Tensor& hhat,
    const at::Tensor& rstd, const at::Tensor& gates, const std::string& norm_name) {
  const Norm norm = lngru_checks::parse_norm(norm_name);
  const Dims d = check_inputs(x, h0, reset, weight_ih, weight_hh, bias_hh, gamma_ih, gamma_hh, nullptr, norm);
  const c10::cuda::CUDAGuard guard(x.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
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
  at::Tensor dh = grad_hT_in.contiguous().clone();  // [B,H] grad of the state leaving step t
  check_arg(dh, "grad_hT", {B, H}, x);

  // State entering each step, after its reset: [T,B,H]. Needed for dz and for dW_hh. A
  // select, not a product with (1 - reset): an inf or NaN state that a reset discards must
  // not turn into NaN (inf * 0) in the weight gradients.
  const at::Tensor hprev_all =
      at::cat({h0.unsqueeze(0), out.narrow(0, 0, T - 1)}, 0).masked_fill_(reset.unsqueeze(-1), 0);

  at::Tensor da = at::empty({T, B, G}, x.options());   // grad of a (input side, post gain+bias)
  at::Tensor dc = at::empty({T, B, G}, x.options());   // grad of c (recurrent side)
  at::Tensor dhw = gain ? at::empty({T, B, G}, x.options()) : dc;  // grad of h W_hh^T
  at::Tensor dh_direct = at::empty({B, H}, x.options());  // the z * dh path to the previous state

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lngru_backward_cuda", [&] {
    const bool* rst = reset.data_ptr<bool>();
    const scalar_t* b_hh = bias_hh.data_ptr<scalar_t>();
    const scalar_t* g_hh = gain ? gamma_hh->data_ptr<scalar_t>() : nullptr;
    const scalar_t* go_p = grad_out.data_ptr<scalar_t>();
    const scalar_t* gates_p = gates.data_ptr<scalar_t>();
    const scalar_t* hhat_p = hhat.data_ptr<scalar_t>();
    const scalar_t* hprev_p = hprev_all.data_ptr<scalar_t>();
    const scalar_t* rstd_p = rstd.data_ptr<scalar_t>();
    scalar_t* dh_p = dh.data_ptr<scalar_t>();
    scalar_t* dd_p = dh_direct.data_ptr<scalar_t>();
    scalar_t* da_p = da.data_ptr<scalar_t>();
    scalar_t* dc_p = dc.data_ptr<scalar_t>();
    scalar_t* dhw_p = gain ? dhw.data_ptr<scalar_t>() : nullptr;
    for (int64_t t = T - 1; t >= 0; --t) {
      // dh holds the grad of the state leaving step t before the reset of step t+1 cut
      // its rows; the kernel applies that cut (grad_hT at t = T-1 is not cut).
      C10_CUDA_CHECK(cuda::lngru_backward_step<scalar_t>(
          go_p + t * B * H, dh_p, t + 1 < T ? rst + (t + 1) * B : nullptr, gates_p + t * B * G,
          hhat_p + t * B * G, hprev_p + t * B * H, rstd_p + t * B * 2, b_hh, g_hh,
          da_p + t * B * G, dc_p + t * B * G, gain ? dhw_p + t * B * G : nullptr, dd_p, B, H,
          norm, stream));
      // dh <- z*dh + dhw[t] W_hh: the grad of the (reset) state entering step t.
      at::addmm_out(dh, dh_direct, dhw[t], weight_hh);
    }
    // Nothing flows through a reset at step 0 into h0.
    C10_CUDA_CHECK(cuda::lngru_mask_rows<scalar_t>(dh_p, dh_p, rst, B, H, stream));
  });

  // Bias and gain gradients are sums over all (t, b) rows.
  at::Tensor dbias_ih = da.sum(at::IntArrayRef{0, 1});
  at::Tensor dbias_hh = dc.sum(at::IntArrayRef{0, 1});
  at::Tensor dgamma_ih, dgamma_hh;
  at::Tensor dxw = da;  // grad of x W_ih^T, [T,B,3H]
  if (gain) {
    dgamma_ih = (da * xhat).sum(at::IntArrayRef{0, 1});  // before the pass below turns da into dxw
    dgamma_hh = (dc * hhat).sum(at::IntArrayRef{0, 1});
    // The input-side norm backward is off the recurrence: one launch over all rows.
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lngru_backward_norm_x_cuda", [&] {
      C10_CUDA_CHECK(cuda::lngru_norm_backward_rows<scalar_t>(
          da.data_ptr<scalar_t>(), xhat.data_ptr<scalar_t>(), gamma_ih->data_ptr<scalar_t>(),
          rstd.data_ptr<scalar_t>(), 2, T * B, H, norm, stream));
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
