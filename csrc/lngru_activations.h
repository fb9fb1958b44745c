// Activations of the fused CPU norm-GRU (csrc/lngru_rows.h). Plain C++, no torch: a test
// (tests/test_lngru.py) compiles this header alone under UBSan. `static`: each translation
// unit keeps its own copies, compiled for its instruction set (lngru_rows_avx2.cpp), never
// merged by the linker with another unit's.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "portability.h"

namespace pyrl {
namespace act {

// Activations. float: branch-free polynomial forms (Cephes coefficients, about 1e-7
// relative error) that the compiler vectorises inside the fused row loop (with
// -fno-trapping-math, set in setup.py, so that selects if-convert); libm's scalar
// expf/tanhf calls cost more than everything else in a step at A3C sizes. double (used by
// gradcheck) keeps libm.
static inline float exp_fast(float v) {
  // Clamp with comparisons that are false for NaN, so NaN becomes -87 here and the int
  // conversion below never sees it (converting NaN to int is undefined behaviour); the NaN
  // is put back by the last select. Ternaries, not std::min: they if-convert to vector selects.
  float x = v > -87.0f ? v : -87.0f;
  x = x < 87.0f ? x : 87.0f;
  // x = n ln2 + r, |r| <= ln2/2 (Cody-Waite split of ln2 for accuracy)
  const float fx = x * 1.44269504088896341f;
  // round to nearest: fx + 128.5 > 0 here, so truncation is floor (and vectorises)
  const int32_t ni = static_cast<int32_t>(fx + 128.5f) - 128;
  const float n = static_cast<float>(ni);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (ni + 127) << 23;  // 2^n as float bits
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return v != v ? v : p * scale;  // NaN in, NaN out
}
static inline float sigmoid_fn(float v) { return 1.0f / (1.0f + exp_fast(-v)); }
static inline float tanh_fn(float v) {
  const float a = std::fabs(v);
  // small |v|: odd polynomial (keeps relative accuracy near 0); large: 1 - 2/(e^{2a}+1)
  const float z = v * v;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * v + v;
  const float big = 1.0f - 2.0f / (exp_fast(2.0f * a) + 1.0f);
  const float big_signed = v < 0.0f ? -big : big;
  return a < 0.625f ? small : big_signed;
}
static inline double sigmoid_fn(double v) { return 1.0 / (1.0 + std::exp(-v)); }
static inline double tanh_fn(double v) { return std::tanh(v); }

// One element j of a GRU step after the norm, from the products xr, hr [3H] (normalised or
// raw): gains (GAIN: g_ih, g_hh [3H]), biases, the gates r, z, n and h' = (1 - z) n + z hp.
// The one definition of the cell's arithmetic: the sequence op's row pass (lngru_rows.h)
// and the act step (act.cpp) both inline it into their loops, so it is compiled for each
// instruction set they are.
template <typename T>
struct Gates {
  T r, z, n, h;
};

template <typename T, bool GAIN>
static PYRL_ALWAYS_INLINE Gates<T> gru_gates(const T* __restrict xr, const T* __restrict hr,
                                             const T* __restrict b_ih, const T* __restrict b_hh,
                                             const T* __restrict g_ih, const T* __restrict g_hh,
                                             T hp, int64_t H, int64_t j) {
  T a_r = xr[j], a_z = xr[H + j], a_n = xr[2 * H + j];
  T c_r = hr[j], c_z = hr[H + j], c_n = hr[2 * H + j];
  if constexpr (GAIN) {
    a_r *= g_ih[j]; a_z *= g_ih[H + j]; a_n *= g_ih[2 * H + j];
    c_r *= g_hh[j]; c_z *= g_hh[H + j]; c_n *= g_hh[2 * H + j];
  }
  a_r += b_ih[j]; a_z += b_ih[H + j]; a_n += b_ih[2 * H + j];
  c_r += b_hh[j]; c_z += b_hh[H + j]; c_n += b_hh[2 * H + j];
  const T r = sigmoid_fn(a_r + c_r);
  const T z = sigmoid_fn(a_z + c_z);
  const T n = tanh_fn(a_n + r * c_n);
  return {r, z, n, (T(1) - z) * n + z * hp};
}

}  // namespace act
}  // namespace pyrl
