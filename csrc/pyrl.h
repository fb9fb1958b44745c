// Declarations of the LN-GRU ops of pyrl._C (rollout ops: rollout.h). bindings.cpp
// binds them all. Shape letters: T time, B batch (envs), I input, H hidden, N envs.
#pragma once
#include <torch/extension.h>

#include <optional>
#include <string>
#include <vector>

namespace pyrl {

// ---- csrc/lngru.cpp: fused GRU with LayerNorm, RMSNorm or no norm (CPU), used for both
// cell (T=1) and sequence. `norm` is "none", "layernorm" or "rmsnorm" (lngru_norm.h); the
// two norms take the gains gamma_ih/gamma_hh, "none" takes none.
//
// Forward over T steps. reset[T,B] (bool) zeroes the state entering step t.
// Returns {out[T,B,H], xhat[T,B,3H], hhat[T,B,3H], rstd[T,B,2], gates[T,B,3H]}; the last
// four are what backward needs (xhat/hhat are the normalised products, or the raw
// products without a norm; gates holds r, z, n).
std::vector<at::Tensor> lngru_forward(
    const at::Tensor& x,         // [T,B,I]
    const at::Tensor& h0,        // [B,H]
    const at::Tensor& reset,     // [T,B] bool
    const at::Tensor& weight_ih, // [3H,I]
    const at::Tensor& weight_hh, // [3H,H]
    const at::Tensor& bias_ih,   // [3H]
    const at::Tensor& bias_hh,   // [3H]
    const std::optional<at::Tensor>& gamma_ih,  // [3H] or None (no norm)
    const std::optional<at::Tensor>& gamma_hh,  // [3H] or None
    double eps,
    const std::string& norm);    // "none" | "layernorm" | "rmsnorm"

// Backward through time. Returns {dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
// dgamma_ih, dgamma_hh} (the gamma grads are empty tensors without gains).
std::vector<at::Tensor> lngru_backward(
    const at::Tensor& grad_out,  // [T,B,H]
    const at::Tensor& grad_hT,   // [B,H]
    const at::Tensor& x,         // [T,B,I]
    const at::Tensor& h0,        // [B,H]
    const at::Tensor& reset,     // [T,B] bool
    const at::Tensor& weight_ih, // [3H,I]
    const at::Tensor& weight_hh, // [3H,H]
    const at::Tensor& bias_hh,   // [3H]
    const std::optional<at::Tensor>& gamma_ih,
    const std::optional<at::Tensor>& gamma_hh,
    const at::Tensor& out,       // [T,B,H]   from forward
    const at::Tensor& xhat,      // [T,B,3H]  from forward
    const at::Tensor& hhat,      // [T,B,3H]  from forward
    const at::Tensor& rstd,      // [T,B,2]   from forward
    const at::Tensor& gates,     // [T,B,3H]  from forward
    const std::string& norm);    // as given to forward

// The instruction set of every CPU kernel (row passes, act step, optimizer): cpu_isa.h.
// How the CPU op does its matrix products: "direct" (torch's own sgemm_/dgemm_, found at
// run time; the default where found) or "aten" (at::mm). Process-wide switch, for tests.
// PYRL_CPU_BLAS=aten|direct|auto (unset: auto) chooses at the first product; the direct path
// is taken only after a self-test shows the BLAS reads 32-bit integers.
std::string lngru_cpu_blas();
void set_lngru_cpu_blas(const std::string& name);
// The self-test run against torch's BLAS or a naive stand-in ("lp64", "ilp64",
// "no-transpose"): whether it passes (tests of the test).
bool cpu_blas_self_test(const std::string& against);

#ifdef PYRL_WITH_CUDA
// ---- csrc/cuda/lngru_cuda.cpp: the same two ops on CUDA tensors.
std::vector<at::Tensor> lngru_forward_cuda(
    const at::Tensor& x, const at::Tensor& h0, const at::Tensor& reset,
    const at::Tensor& weight_ih, const at::Tensor& weight_hh,
    const at::Tensor& bias_ih, const at::Tensor& bias_hh,
    const std::optional<at::Tensor>& gamma_ih, const std::optional<at::Tensor>& gamma_hh,
    double eps, const std::string& norm);
std::vector<at::Tensor> lngru_backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& grad_hT, const at::Tensor& x,
    const at::Tensor& h0, const at::Tensor& reset, const at::Tensor& weight_ih,
    const at::Tensor& weight_hh, const at::Tensor& bias_hh,
    const std::optional<at::Tensor>& gamma_ih, const std::optional<at::Tensor>& gamma_hh,
    const at::Tensor& out, const at::Tensor& xhat, const at::Tensor& hhat,
    const at::Tensor& rstd, const at::Tensor& gates, const std::string& norm);
#endif

}  // namespace pyrl
