// CUDA kernels of the fused norm-GRU (declared and documented in lngru_kernels.h).
// CUDA runtime only, no torch: lngru_cuda.cpp does the matrix products and calls these.
//
// Layout: one thread block per row b (a row is one batch element of one step, 3H values on
// each side). Norm statistics are block reductions (warp shuffles, then one warp over
// the per-warp partials), as on the CPU: LayerNorm in two passes (mean, then the squared
// deviations), RMSNorm in one (the mean square). Kernels are templates on the norm kind.
// Within a row, thread j' owns the hidden units j = j', j' + blockDim, ... and the three
// gate entries j, H+j, 2H+j of each; a thread only rereads what it wrote itself, so the
// fused passes need no barrier beyond those inside the reductions.
//
// Accuracy: accumulation in the op's math type (float for float, double for double, as
// at::opmath_type on the CPU); activations with the accurate expf/tanhf (exp/tanh for
// double) and IEEE sqrt and division: build without --use_fast_math.
#include "lngru_kernels.h"

#include <cuda_runtime.h>

namespace pyrl {
namespace cuda {
namespace {

constexpr int kMaxThreads = 256;  // per row; at most 32 warps for the reduction

// Threads for a row whose thread loop runs over n items: whole warps, at most kMaxThreads.
inline int threads_for(int64_t n) {
  int64_t t = (n + 31) / 32 * 32;
  if (t < 32) t = 32;
  if (t > kMaxThreads) t = kMaxThreads;
  return static_cast<int>(t);
}

__device__ __forceinline__ float exp_fn(float v) { return expf(v); }
__device__ __forceinline__ double exp_fn(double v) { return exp(v); }
__device__ __forceinline__ float tanh_fn(float v) { return tanhf(v); }
__device__ __forceinline__ double tanh_fn(double v) { return tanh(v); }
__device__ __forceinline__ float sqrt_fn(float v) { return sqrtf(v); }
__device__ __forceinline__ double sqrt_fn(double v) { return sqrt(v); }
template <typename T>
__device__ __forceinline__ T sigmoid_fn(T v) { return T(1) / (T(1) + exp_fn(-v)); }

// Sums a and b over the block; every thread gets both totals. `red` is shared scratch of
// 2*32 values. Ends with a barrier, so it can be called again right away. Needs blockDim.x a
// multiple of 32 (every lane of a warp in the full-mask shuffles) and at most 1024: launch
// with threads_for().
template <typename acc_t>
__device__ __forceinline__ void block_sum2(acc_t& a, acc_t& b, acc_t* red) {
  const unsigned full = 0xffffffffu;
  for (int off = 16; off > 0; off >>= 1) {
    a += __shfl_down_sync(full, a, off);
    b += __shfl_down_sync(full, b, off);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = (blockDim.x + 31) >> 5;
  if (lane == 0) {
    red[warp] = a;
    red[32 + warp] = b;
  }
  __syncthreads();
  if (warp == 0) {
    a = lane < nwarps ? red[lane] : acc_t(0);
    b = lane < nwarps ? red[32 + lane] : acc_t(0);
    for (int off = 16; off > 0; off >>= 1) {
      a += __shfl_down_sync(full, a, off);
      b += __shfl_down_sync(full, b, off);
    }
    if (lane == 0) {
      red[0] = a;
      red[32] = b;
    }
  }
  __syncthreads();
  a = red[0];
  b = red[32];
  __syncthreads();
}

template <typename T>
struct Acc {
  using type = T;  // float -> float, double -> double (at::opmath_type of both)
};

template <typename T>
__global__ void mask_rows_kernel(T* dst, const T* src, const bool* __restrict__ reset,
                                 int64_t B, int64_t H) {
  const int64_t n = B * H;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    dst[i] = reset[i / H] ? T(0) : src[i];
  }
}

template <typename T, Norm N>
__global__ void __launch_bounds__(kMaxThreads)
forward_step_kernel(T* __restrict__ xw, T* __restrict__ hw, const T* __restrict__ hprev,
                    const T* __restrict__ b_ih, const T* __restrict__ b_hh,
                    const T* __restrict__ g_ih, const T* __restrict__ g_hh,
                    T* __restrict__ rstd, T* __restrict__ gates, T* __restrict__ out,
                    T* __restrict__ hnext, const bool* __restrict__ next_reset, int64_t H,
                    typename Acc<T>::type eps) {
  using acc_t = typename Acc<T>::type;
  __shared__ acc_t red[64];
  const int64_t b = blockIdx.x, G = 3 * H;
  T* xr = xw + b * G;                 // [3H]
  T* hr = hw + b * G;                 // [3H]
  const T* hp = hprev + b * H;        // [H]
  T* gt = gates + b * G;              // [3H]
  T* o = out + b * H;                 // [H]
  constexpr bool kGain = N != Norm::kNone;
  acc_t mean_x = 0, mean_h = 0, rstd_x = 1, rstd_h = 1;  // RMSNorm: the mean stays 0
  if constexpr (kGain) {
    if constexpr (N == Norm::kLayer) {
      acc_t sx = 0, sh = 0;
      for (int64_t k = threadIdx.x; k < G; k += blockDim.x) {
        sx += xr[k];
        sh += hr[k];
      }
      block_sum2(sx, sh, red);
      mean_x = sx / G;
      mean_h = sh / G;
    }
    acc_t qx = 0, qh = 0;
    for (int64_t k = threadIdx.x; k < G; k += blockDim.x) {
      const acc_t dx = acc_t(xr[k]) - mean_x, dh = acc_t(hr[k]) - mean_h;
      qx += dx * dx;
      qh += dh * dh;
    }
    block_sum2(qx, qh, red);  // its barriers also order the reads above before the writes below
    rstd_x = acc_t(1) / sqrt_fn(qx / G + eps);
    rstd_h = acc_t(1) / sqrt_fn(qh / G + eps);
  }
  if (threadIdx.x == 0) {
    rstd[b * 2] = static_cast<T>(rstd_x);
    rstd[b * 2 + 1] = static_cast<T>(rstd_h);
  }
  const bool cut = next_reset != nullptr && next_reset[b];
  T* hn = hnext + b * H;
  for (int64_t j = threadIdx.x; j < H; j += blockDim.x) {
    T a_r = xr[j], a_z = xr[H + j], a_n = xr[2 * H + j];
    T c_r = hr[j], c_z = hr[H + j], c_n = hr[2 * H + j];
    if constexpr (kGain) {
      a_r = static_cast<T>((acc_t(a_r) - mean_x) * rstd_x);
      a_z = static_cast<T>((acc_t(a_z) - mean_x) * rstd_x);
      a_n = static_cast<T>((acc_t(a_n) - mean_x) * rstd_x);
      c_r = static_cast<T>((acc_t(c_r) - mean_h) * rstd_h);
      c_z = static_cast<T>((acc_t(c_z) - mean_h) * rstd_h);
      c_n = static_cast<T>((acc_t(c_n) - mean_h) * rstd_h);
      xr[j] = a_r; xr[H + j] = a_z; xr[2 * H + j] = a_n;  // xhat
      hr[j] = c_r; hr[H + j] = c_z; hr[2 * H + j] = c_n;  // hhat
      a_r *= g_ih[j]; a_z *= g_ih[H + j]; a_n *= g_ih[2 * H + j];
      c_r *= g_hh[j]; c_z *= g_hh[H + j]; c_n *= g_hh[2 * H + j];
    }
    a_r += b_ih[j]; a_z += b_ih[H + j]; a_n += b_ih[2 * H + j];
    c_r += b_hh[j]; c_z += b_hh[H + j]; c_n += b_hh[2 * H + j];
    const T r = sigmoid_fn(a_r + c_r);
    const T z = sigmoid_fn(a_z + c_z);
    const T n = tanh_fn(a_n + r * c_n);
    gt[j] = r;
    gt[H + j] = z;
    gt[2 * H + j] = n;
    const T h = (T(1) - z) * n + z * hp[j];
    o[j] = h;
    hn[j] = cut ? T(0) : h;
  }
}

template <typename T, Norm N>
__global__ void __launch_bounds__(kMaxThreads)
backward_step_kernel(const T* __restrict__ grad_out, const T* __restrict__ dh_raw,
                     const bool* __restrict__ dh_reset, const T* __restrict__ gates,
                     const T* __restrict__ hhat, const T* __restrict__ hprev,
                     const T* __restrict__ rstd, const T* __restrict__ b_hh,
                     const T* __restrict__ g_hh, T* __restrict__ da, T* __restrict__ dc,
                     T* __restrict__ dhw, T* __restrict__ dd, int64_t H) {
  using acc_t = typename Acc<T>::type;
  constexpr bool kGain = N != Norm::kNone;
  __shared__ acc_t red[64];
  const int64_t b = blockIdx.x, G = 3 * H;
  const T* go = grad_out + b * H;     // [H]
  const T* dh = dh_raw + b * H;       // [H]
  const T* gt = gates + b * G;        // [3H]
  const T* hh = hhat + b * G;         // [3H]
  const T* hp = hprev + b * H;        // [H]
  T* dar = da + b * G;                // [3H]
  T* dcr = dc + b * G;                // [3H]
  T* ddr = dd + b * H;                // [H]
  const bool cut = dh_reset != nullptr && dh_reset[b];
  acc_t s1 = 0, s2 = 0;  // norm backward sums: sum(dc*gamma), sum(dc*gamma*hhat)
  for (int64_t j = threadIdx.x; j < H; j += blockDim.x) {
    const T r = gt[j], z = gt[H + j], n = gt[2 * H + j];
    const T g = (cut ? T(0) : dh[j]) + go[j];
    T c_n = hh[2 * H + j];
    if constexpr (kGain) c_n *= g_hh[2 * H + j];
    c_n += b_hh[2 * H + j];
    const T dpre_n = g * (T(1) - z) * (T(1) - n * n);
    const T dpre_z = g * (hp[j] - n) * z * (T(1) - z);
    const T dpre_r = dpre_n * c_n * r * (T(1) - r);
    const T dc_n = dpre_n * r;
    dar[j] = dpre_r; dar[H + j] = dpre_z; dar[2 * H + j] = dpre_n;
    dcr[j] = dpre_r; dcr[H + j] = dpre_z; dcr[2 * H + j] = dc_n;
    ddr[j] = g * z;
    if constexpr (kGain) {
      const acc_t gy_r = acc_t(dpre_r) * g_hh[j];
      const acc_t gy_z = acc_t(dpre_z) * g_hh[H + j];
      const acc_t gy_n = acc_t(dc_n) * g_hh[2 * H + j];
      s1 += gy_r + gy_z + gy_n;
      s2 += gy_r * hh[j] + gy_z * hh[H + j] + gy_n * hh[2 * H + j];
    }
  }
  if constexpr (!kGain) return;  // uniform over the block: no thread is left waiting at a barrier
  block_sum2(s1, s2, red);
  // LayerNorm subtracts mean(gy); RMSNorm subtracted no mean, so neither does its backward
  const acc_t m1 = N == Norm::kLayer ? s1 / G : acc_t(0), m2 = s2 / G, rs = rstd[b * 2 + 1];
  T* dhwr = dhw + b * G;              // [3H]
  for (int64_t j = threadIdx.x; j < H; j += blockDim.x) {
    for (int q = 0; q < 3; ++q) {
      const int64_t k = q * H + j;
      const acc_t gy = acc_t(dcr[k]) * g_hh[k];  // this thread wrote dcr[k] above
      dhwr[k] = static_cast<T>(rs * (gy - m1 - acc_t(hh[k]) * m2));
    }
  }
}

template <typename T, Norm N>
__global__ void __launch_bounds__(kMaxThreads)
norm_backward_rows_kernel(T* __restrict__ g, const T* __restrict__ yhat,
                               const T* __restrict__ gamma, const T* __restrict__ rstd,
                               int64_t rstd_stride, int64_t G) {
  using acc_t = typename Acc<T>::type;
  __shared__ acc_t red[64];
  const int64_t row = blockIdx.x;
  T* gr = g + row * G;                // [3H]
  const T* yr = yhat + row * G;       // [3H]
  acc_t s1 = 0, s2 = 0;
  for (int64_t k = threadIdx.x; k < G; k += blockDim.x) {
    const acc_t gy = acc_t(gr[k]) * gamma[k];
    s1 += gy;
    s2 += gy * yr[k];
  }
  block_sum2(s1, s2, red);  // also orders every read above before the writes below
  const acc_t m1 = N == Norm::kLayer ? s1 / G : acc_t(0), m2 = s2 / G, rs = rstd[row * rstd_stride];
  for (int64_t k = threadIdx.x; k < G; k += blockDim.x) {
    const acc_t gy = acc_t(gr[k]) * gamma[k];
    gr[k] = static_cast<T>(rs * (gy - m1 - acc_t(yr[k]) * m2));
  }
}

}  // namespace

template <typename scalar_t>
cudaError_t lngru_mask_rows(scalar_t* dst, const scalar_t* src, const bool* reset, int64_t B,
                            int64_t H, cudaStream_t stream) {
  const int64_t n = B * H;
  const int threads = 256;
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks > 4096) blocks = 4096;  // grid-stride loop covers the rest
  mask_rows_kernel<scalar_t><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(dst, src, reset, B, H);
  return cudaGetLastError();
}

template <typename scalar_t>
cudaError_t lngru_forward_step(scalar_t* xw, scalar_t* hw, const scalar_t* hprev,
                               const scalar_t* bias_ih, const scalar_t* bias_hh,
                               const scalar_t* gamma_ih, const scalar_t* gamma_hh,
                               scalar_t* rstd, scalar_t* gates, scalar_t* out, scalar_t* hnext,
                               const bool* next_reset, int64_t B, int64_t H, double eps,
                               Norm norm, cudaStream_t stream) {
  using acc_t = typename Acc<scalar_t>::type;
  const int threads = threads_for(H);
  const dim3 grid(static_cast<unsigned>(B));
  switch (norm) {
    case Norm::kNone:
      forward_step_kernel<scalar_t, Norm::kNone><<<grid, threads, 0, stream>>>(
          xw, hw, hprev, bias_ih, bias_hh, nullptr, nullptr, rstd, gates, out, hnext,
          next_reset, H, static_cast<acc_t>(eps));
      break;
    case Norm::kLayer:
      forward_step_kernel<scalar_t, Norm::kLayer><<<grid, threads, 0, stream>>>(
          xw, hw, hprev, bias_ih, bias_hh, gamma_ih, gamma_hh, rstd, gates, out, hnext,
          next_reset, H, static_cast<acc_t>(eps));
      break;
    case Norm::kRms:
      forward_step_kernel<scalar_t, Norm::kRms><<<grid, threads, 0, stream>>>(
          xw, hw, hprev, bias_ih, bias_hh, gamma_ih, gamma_hh, rstd, gates, out, hnext,
          next_reset, H, static_cast<acc_t>(eps));
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template <typename scalar_t>
cudaError_t lngru_backward_step(const scalar_t* grad_out, const scalar_t* dh_raw,
                                const bool* dh_reset, const scalar_t* gates,
                                const scalar_t* hhat, const scalar_t* hprev,
                                const scalar_t* rstd, const scalar_t* bias_hh,
                                const scalar_t* gamma_hh, scalar_t* da, scalar_t* dc,
                                scalar_t* dhw, scalar_t* dd, int64_t B, int64_t H, Norm norm,
                                cudaStream_t stream) {
  const int threads = threads_for(H);
  const dim3 grid(static_cast<unsigned>(B));
  switch (norm) {
    case Norm::kNone:
      backward_step_kernel<scalar_t, Norm::kNone><<<grid, threads, 0, stream>>>(
          grad_out, dh_raw, dh_reset, gates, hhat, hprev, rstd, bias_hh, nullptr, da, dc,
          nullptr, dd, H);
      break;
    case Norm::kLayer:
      backward_step_kernel<scalar_t, Norm::kLayer><<<grid, threads, 0, stream>>>(
          grad_out, dh_raw, dh_reset, gates, hhat, hprev, rstd, bias_hh, gamma_hh, da, dc, dhw,
          dd, H);
      break;
    case Norm::kRms:
      backward_step_kernel<scalar_t, Norm::kRms><<<grid, threads, 0, stream>>>(
          grad_out, dh_raw, dh_reset, gates, hhat, hprev, rstd, bias_hh, gamma_hh, da, dc, dhw,
          dd, H);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template <typename scalar_t>
cudaError_t lngru_norm_backward_rows(scalar_t* g, const scalar_t* yhat, const scalar_t* gamma,
                                     const scalar_t* rstd, int64_t rstd_stride, int64_t rows,
                                     int64_t H, Norm norm, cudaStream_t stream) {
  const int64_t G = 3 * H;
  const unsigned grid = static_cast<unsigned>(rows);
  switch (norm) {
    case Norm::kLayer:
      norm_backward_rows_kernel<scalar_t, Norm::kLayer>
          <<<grid, threads_for(G), 0, stream>>>(g, yhat, gamma, rstd, rstd_stride, G);
      break;
    case Norm::kRms:
      norm_backward_rows_kernel<scalar_t, Norm::kRms>
          <<<grid, threads_for(G), 0, stream>>>(g, yhat, gamma, rstd, rstd_stride, G);
      break;
    default:  // no norm: nothing to undo, and nothing to launch
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

#define PYRL_INSTANTIATE(T)                                                                  \
  template cudaError_t lngru_mask_rows<T>(T*, const T*, const bool*, int64_t, int64_t,        \
                                          cudaStream_t);                                     \
  template cudaError_t lngru_forward_step<T>(T*, T*, const T*, const T*, const T*, const T*,  \
                                             const T*, T*, T*, T*, T*, const bool*, int64_t,  \
                                             int64_t, double, Norm, cudaStream_t);           \
  template cudaError_t lngru_backward_step<T>(const T*, const T*, const bool*, const T*,     \
                                              const T*, const T*, const T*, const T*,        \
                                              const T*, T*, T*, T*, T*, int64_t, int64_t,     \
                                              Norm, cudaStream_t);                           \
  template cudaError_t lngru_norm_backward_rows<T>(T*, const T*, const T*, const T*, int64_t, \
                                                   int64_t, int64_t, Norm, cudaStream_t);
PYRL_INSTANTIATE(float)
PYRL_INSTANTIATE(double)
#undef PYRL_INSTANTIATE

}  // namespace cuda
}  // namespace pyrl
