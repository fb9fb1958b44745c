// CUDA kernels of the fused norm-GRU (LayerNorm, RMSNorm or none), on the CUDA runtime only
// (no torch headers), so that `nvcc -c lngru_kernels.cu` builds them anywhere. lngru_cuda.cpp
// drives them around the matrix products (cuBLAS through torch). Same math and same saved
// tensors as csrc/lngru.cpp (read its header comment for the semantics):
//   a = norm(x W_ih^T) * gamma_ih + b_ih        c = norm(h W_hh^T) * gamma_hh + b_hh
//   r = sigmoid(a_r + c_r)   z = sigmoid(a_z + c_z)   n = tanh(a_n + r * c_n)
//   h' = (1 - z) * n + z * h
// Shape letters: T time, B batch, I input, H hidden; G = 3H. Every pointer is to a
// contiguous device array. Templates are instantiated for float and double. Each launcher
// enqueues on `stream` and returns cudaGetLastError() (the launch status), never syncs.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "../lngru_norm.h"  // Norm: plain C++, shared with the CPU op

namespace pyrl {
namespace cuda {

// dst[b,:] = reset[b] ? 0 : src[b,:]. Builds the state entering step 0 from h0, and masks
// the gradient leaving step 0 (dh0). dst may equal src.
template <typename scalar_t>
cudaError_t lngru_mask_rows(
    scalar_t* dst,         // [B,H]
    const scalar_t* src,   // [B,H]
    const bool* reset,     // [B]   reset flags of one step
    int64_t B, int64_t H, cudaStream_t stream);

// One fused forward step after the recurrent product, one block per row b:
// with a norm, normalises xw[b,:] and hw[b,:] in place (-> xhat, hhat of step t) and
// writes their rstd; then gates and the new state. Without a norm (Norm::kNone, gamma_ih ==
// gamma_hh == nullptr) xw/hw are left raw and rstd is set to 1 (the CPU op's contract).
// Also writes the state entering step t+1: hnext[b,:] = next_reset[b] ? 0 : out[b,:]
// (next_reset == nullptr: no reset, i.e. the last step). hnext must not alias hprev.
template <typename scalar_t>
cudaError_t lngru_forward_step(
    scalar_t* xw,               // [B,3H]  x_t W_ih^T in, xhat[t] out (in place)
    scalar_t* hw,               // [B,3H]  h W_hh^T in, hhat[t] out (in place)
    const scalar_t* hprev,      // [B,H]   state entering step t (reset applied)
    const scalar_t* bias_ih,    // [3H]
    const scalar_t* bias_hh,    // [3H]
    const scalar_t* gamma_ih,   // [3H], or nullptr with Norm::kNone
    const scalar_t* gamma_hh,   // [3H], or nullptr with Norm::kNone
    scalar_t* rstd,             // [B,2]   rstd[t]: x side, h side
    scalar_t* gates,            // [B,3H]  gates[t]: r, z, n
    scalar_t* out,              // [B,H]   out[t] = h'
    scalar_t* hnext,            // [B,H]   state entering step t+1 (reset applied)
    const bool* next_reset,     // [B]     reset[t+1], or nullptr
    int64_t B, int64_t H, double eps, Norm norm, cudaStream_t stream);

// One fused backward step, one block per row b. The gradient of the state leaving step t
// is dh_raw[b,:] masked by dh_reset (reset[t+1]: the previous backward step's product still
// holds rows that a reset cut; nullptr: no mask, i.e. t = T-1 with grad_hT) plus grad_out.
// Writes da, dc (grads of a and c after gain and bias), dd = z * dh (the direct path to the
// previous state) and, with a norm, dhw = the recurrent-side norm backward of dc (grad of
// h W_hh^T). Without a norm dhw is not touched (it is dc; pass nullptr).
template <typename scalar_t>
cudaError_t lngru_backward_step(
    const scalar_t* grad_out,   // [B,H]   grad_out[t]
    const scalar_t* dh_raw,     // [B,H]   grad of the state leaving step t, before masking
    const bool* dh_reset,       // [B]     reset[t+1], or nullptr
    const scalar_t* gates,      // [B,3H]  gates[t]
    const scalar_t* hhat,       // [B,3H]  hhat[t]
    const scalar_t* hprev,      // [B,H]   state entering step t (reset applied)
    const scalar_t* rstd,       // [B,2]   rstd[t]
    const scalar_t* bias_hh,    // [3H]
    const scalar_t* gamma_hh,   // [3H], or nullptr with Norm::kNone
    scalar_t* da,               // [B,3H]  da[t]
    scalar_t* dc,               // [B,3H]  dc[t]
    scalar_t* dhw,              // [B,3H]  dhw[t] with a norm, else nullptr
    scalar_t* dd,               // [B,H]   z * dh
    int64_t B, int64_t H, Norm norm, cudaStream_t stream);

// Input-side norm backward (LayerNorm or RMSNorm, not kNone) over all rows at once (off
// the recurrence), in place: g[row,:] (grad of a) becomes the grad of x W_ih^T. One block
// per row.
template <typename scalar_t>
cudaError_t lngru_norm_backward_rows(
    scalar_t* g,                // [rows,3H]  da in, dxw out
    const scalar_t* yhat,       // [rows,3H]  xhat
    const scalar_t* gamma,      // [3H]       gamma_ih
    const scalar_t* rstd,       // [rows,rstd_stride]  rstd[...,0] is read
    int64_t rstd_stride,        // 2 for the [T,B,2] rstd tensor
    int64_t rows, int64_t H, Norm norm, cudaStream_t stream);

}  // namespace cuda
}  // namespace pyrl
