// The fused acting step of pyrl.nn.ActorCritic for vector observations (CPU, one thread).
//
// Per trunk (the actor's, then the critic's if separate; one trunk feeds both heads):
//   f = tanh(tanh(x W1^T + b1) W2^T + b2)                                  [N,H]
//   f = featnorm(f): none | LayerNorm | RMSNorm | running-statistics BatchNorm (eval form)
//   f = GRU cell(f, state half with reset rows zeroed by a select)        (if a core)
// then logits = f_actor Wp^T + bp -> log_softmax (or the Gaussian mean, log_std),
// value = f_critic . wv + bv, and the action from noise the caller drew (so the generator's
// stream is exactly the eager path's). Reference: pyrl.ops.act_step_reference.
//
// Why raw loops: at acting sizes (N <= 128, H = 64) each ATen op costs more in dispatch and
// allocation than its arithmetic; here one call does all of it over float pointers.
#include "act.h"

#include <ATen/OpMathType.h>

#include <cmath>
#include <vector>

#include "cpu_isa.h"
#include "gemm.h"
#include "lngru_activations.h"
#include "lngru_norm.h"
#include "portability.h"

namespace pyrl {
namespace {

using act::sigmoid_fn;
using act::tanh_fn;

// The float kernel is compiled for AVX2 + FMA and AVX besides the baseline, and picked per
// call by the process-wide instruction-set switch (portability.h, cpu_isa.h): the build has
// no -march, and the row loops are only worth fusing when they run 8 wide. Everything it
// calls is forced inline so that it is compiled for each set too.
constexpr int kTrunkFields = 14;  // pyrl.ops.ACT_TRUNK_FIELDS
constexpr int kHeadFields = 5;    // pyrl.ops.ACT_HEAD_FIELDS
constexpr double kHalfLog2Pi = 0.91893853320467274178;  // 0.5 * log(2 pi)

enum class FeatNorm { kNone, kLayer, kRms, kBatch };

FeatNorm parse_feature_norm(const std::string& name) {
  if (name == "none") return FeatNorm::kNone;
  if (name == "layernorm") return FeatNorm::kLayer;
  if (name == "rmsnorm") return FeatNorm::kRms;
  TORCH_CHECK(name == "batchnorm", "act_step: feature_norm must be \"none\", \"layernorm\", "
              "\"rmsnorm\" or \"batchnorm\", got \"", name, "\"");
  return FeatNorm::kBatch;
}

Norm parse_core_norm(const std::string& name) {
  if (name == "none") return Norm::kNone;
  if (name == "layernorm") return Norm::kLayer;
  TORCH_CHECK(name == "rmsnorm", "act_step: core_norm must be \"none\", \"layernorm\" or "
              "\"rmsnorm\", got \"", name, "\"");
  return Norm::kRms;
}

// The raw pointers of one trunk (null where absent).
template <typename T>
struct Trunk {
  const T *w1, *b1, *w2, *b2;           // encoder
  const T *nw, *nb, *rmean, *rvar;      // feature norm
  const T *wih, *whh, *bih, *bhh, *gih, *ghh;  // core
};

template <typename T>
struct Heads {
  const T *pw, *pb, *log_std, *vw, *vb;
};

// y[m, j] = b[j] + sum_k x[m, k] W[j, k] for M rows (x row stride xs, y row stride ys),
// W [J,K] row-major; b may be null. Blocks of 4 rows x 2 outputs: each load feeds several
// multiply-adds (the dot-product form, as W is not transposed for us).
template <typename T>
PYRL_ALWAYS_INLINE void linear(const T* __restrict x, int64_t xs, int64_t M, int64_t K, const T* __restrict W,
            const T* __restrict b, int64_t J, T* __restrict y, int64_t ys) {
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) {
    const T *x0 = x + m * xs, *x1 = x0 + xs, *x2 = x1 + xs, *x3 = x2 + xs;
    T *y0 = y + m * ys, *y1 = y0 + ys, *y2 = y1 + ys, *y3 = y2 + ys;
    int64_t j = 0;
    for (; j + 2 <= J; j += 2) {  // two rows of W too: 6 loads per 8 multiply-adds
      const T *w = W + j * K, *v = w + K;
      T s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3, t0, t1, t2, t3)
      for (int64_t k = 0; k < K; ++k) {
        const T wk = w[k], vk = v[k];
        s0 += x0[k] * wk;
        s1 += x1[k] * wk;
        s2 += x2[k] * wk;
        s3 += x3[k] * wk;
        t0 += x0[k] * vk;
        t1 += x1[k] * vk;
        t2 += x2[k] * vk;
        t3 += x3[k] * vk;
      }
      const T bj = b ? b[j] : T(0), bk = b ? b[j + 1] : T(0);
      y0[j] = s0 + bj;
      y1[j] = s1 + bj;
      y2[j] = s2 + bj;
      y3[j] = s3 + bj;
      y0[j + 1] = t0 + bk;
      y1[j + 1] = t1 + bk;
      y2[j + 1] = t2 + bk;
      y3[j + 1] = t3 + bk;
    }
    for (; j < J; ++j) {
      const T* w = W + j * K;
      T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
      for (int64_t k = 0; k < K; ++k) {
        const T wk = w[k];
        s0 += x0[k] * wk;
        s1 += x1[k] * wk;
        s2 += x2[k] * wk;
        s3 += x3[k] * wk;
      }
      const T bj = b ? b[j] : T(0);
      y0[j] = s0 + bj;
      y1[j] = s1 + bj;
      y2[j] = s2 + bj;
      y3[j] = s3 + bj;
    }
  }
  for (; m < M; ++m) {
    const T* xr = x + m * xs;
    T* yr = y + m * ys;
    for (int64_t j = 0; j < J; ++j) {
      const T* w = W + j * K;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t k = 0; k < K; ++k) s += xr[k] * w[k];
      yr[j] = s + (b ? b[j] : T(0));
    }
  }
}

template <typename T>
PYRL_ALWAYS_INLINE void tanh_inplace(T* v, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) v[i] = tanh_fn(v[i]);
}

// (v - mean) * rstd (LayerNorm, no shift) or v * rstd (RMSNorm) in place over n values,
// accumulating in the op's math type; the same forms as csrc/lngru.cpp's norm_row.
template <bool kLayer, typename T>
PYRL_ALWAYS_INLINE void normalize_row(T* v, int64_t n, double eps) {
  using acc_t = at::opmath_type<T>;
  acc_t mean = 0;
  if constexpr (kLayer) {
    acc_t sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; ++j) sum += v[j];
    mean = sum / n;
  }
  acc_t sq = 0;
#pragma omp simd reduction(+ : sq)
  for (int64_t j = 0; j < n; ++j) {
    const acc_t d = v[j] - mean;
    sq += d * d;
  }
  const acc_t rstd = acc_t(1) / std::sqrt(sq / n + acc_t(eps));
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) v[j] = static_cast<T>((v[j] - mean) * rstd);
}

// The feature norm over each of N rows of H features in place (nn.LayerNorm, nn.RMSNorm,
// RunningBatchNorm in its acting form: running statistics, never the batch's).
template <typename T>
PYRL_ALWAYS_INLINE void feature_norm(FeatNorm kind, T* f, int64_t N, int64_t H, const Trunk<T>& p, double eps) {
  if (kind == FeatNorm::kNone) return;
  for (int64_t n = 0; n < N; ++n) {
    T* v = f + n * H;
    if (kind == FeatNorm::kLayer) {
      normalize_row<true>(v, H, eps);
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) v[j] = v[j] * p.nw[j] + p.nb[j];
    } else if (kind == FeatNorm::kRms) {
      normalize_row<false>(v, H, eps);
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) v[j] = v[j] * p.nw[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < H; ++j)
        v[j] = (v[j] - p.rmean[j]) * (T(1) / std::sqrt(p.rvar[j] + T(eps))) * p.nw[j] + p.nb[j];
    }
  }
}

// GRU gates of one row after the norm (lngru_rows.h's gates_row without the saved gates; the
// arithmetic of both is act::gru_gates):
// a/c [3H] normalised (or raw) products, hp [H] the state entering, o [H] = h'.
template <typename T, bool kGain>
PYRL_ALWAYS_INLINE void gru_row(const T* __restrict a, const T* __restrict c, const T* __restrict hp,
             const Trunk<T>& p, T* __restrict o, int64_t H) {
  const T *bih = p.bih, *bhh = p.bhh, *gih = p.gih, *ghh = p.ghh;
#pragma omp simd
  for (int64_t j = 0; j < H; ++j)
    o[j] = act::gru_gates<T, kGain>(a, c, bih, bhh, gih, ghh, hp[j], H, j).h;
}

// Scratch of one call, kept per thread between calls (no allocation in the steady state).
template <typename T>
std::vector<T>& scratch(size_t n) {
  static thread_local std::vector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

template <typename T>
PYRL_ALWAYS_INLINE void run(const T* obs, const T* state, const bool* reset, const T* noise, const Trunk<T>* trunks,
         int64_t n_trunks, const Heads<T>& hd, FeatNorm fnorm, Norm cnorm, double feps, double ceps,
         int64_t N, int64_t I, int64_t H, int64_t A, bool rnn, int64_t* action_i, T* action_f,
         T* value, T* logp, T* new_state) {
  const int64_t S = rnn ? n_trunks * H : 0, G = 3 * H;
  std::vector<T>& buf = scratch<T>(static_cast<size_t>(N * (2 * H + (rnn ? 2 * G + H : 0) + A)));
  T* h1 = buf.data();          // [N,H] first encoder layer
  T* f = h1 + N * H;           // [N,H] features
  T* a = f + N * H;            // [N,3H] x W_ih^T
  T* c = a + (rnn ? N * G : 0);  // [N,3H] h W_hh^T
  T* hp = c + (rnn ? N * G : 0);  // [N,H] state half entering, after reset
  T* logits = hp + (rnn ? N * H : 0);  // [N,A]

  for (int64_t t = 0; t < n_trunks; ++t) {
    const Trunk<T>& p = trunks[t];
    linear(obs, I, N, I, p.w1, p.b1, H, h1, H);
    tanh_inplace(h1, N * H);
    linear(h1, H, N, H, p.w2, p.b2, H, f, H);
    tanh_inplace(f, N * H);
    feature_norm(fnorm, f, N, H, p, feps);
    const T* feat = f;  // [N,H] with row stride fs
    int64_t fs = H;
    if (rnn) {
      // a select, not state * keep: a non-finite state that a reset discards must not leak
      for (int64_t n = 0; n < N; ++n) {
        const T* src = state + n * S + t * H;
        T* dst = hp + n * H;
        if (reset[n]) std::fill(dst, dst + H, T(0));
        else std::copy(src, src + H, dst);
      }
      // the two [N,H] x [H,3H] products on torch's BLAS (gemm.h): the largest of the step,
      // where a packed kernel beats the dot-product loops of linear()
      gemm<T>(false, true, N, G, H, f, H, p.wih, H, T(0), a, G);
      gemm<T>(false, true, N, G, H, hp, H, p.whh, H, T(0), c, G);
      T* out = new_state + t * H;
      for (int64_t n = 0; n < N; ++n) {
        T* ar = a + n * G;
        T* cr = c + n * G;
        if (cnorm == Norm::kLayer) {
          normalize_row<true>(ar, G, ceps);
          normalize_row<true>(cr, G, ceps);
        } else if (cnorm == Norm::kRms) {
          normalize_row<false>(ar, G, ceps);
          normalize_row<false>(cr, G, ceps);
        }
        if (cnorm == Norm::kNone) gru_row<T, false>(ar, cr, hp + n * H, p, out + n * S, H);
        else gru_row<T, true>(ar, cr, hp + n * H, p, out + n * S, H);
      }
      feat = out;
      fs = S;
    }
    if (t == 0) linear(feat, fs, N, H, hd.pw, hd.pb, A, logits, A);   // policy head
    if (t == n_trunks - 1) linear(feat, fs, N, H, hd.vw, hd.vb, 1, value, 1);  // value head
  }

  if (hd.log_std == nullptr) {
    // categorical: log_softmax, then inverse-CDF sampling exactly as ActorCritic.act does it
    for (int64_t n = 0; n < N; ++n) {
      T* l = logits + n * A;
      T mx = l[0];
      for (int64_t j = 1; j < A; ++j) mx = l[j] > mx ? l[j] : mx;
      at::opmath_type<T> sum = 0;
      for (int64_t j = 0; j < A; ++j) sum += std::exp(l[j] - mx);
      const T lse = mx + static_cast<T>(std::log(sum));
      for (int64_t j = 0; j < A; ++j) l[j] -= lse;  // now log-probabilities
      // cdf as torch's CPU cumsum forms it: a double running sum, stored in T; u scaled by
      // the stored total; searchsorted(right=True) = the first cdf entry above u * total
      double run_sum = 0;
      T cdf_last = 0;
      for (int64_t j = 0; j < A; ++j) {
        run_sum += static_cast<double>(std::exp(l[j]));
        cdf_last = static_cast<T>(run_sum);
      }
      const T target = noise[n] * cdf_last;
      int64_t k = A - 1;  // clamped: also where no entry is above (NaN, rounding)
      run_sum = 0;
      for (int64_t j = 0; j < A; ++j) {
        run_sum += static_cast<double>(std::exp(l[j]));
        if (static_cast<T>(run_sum) > target) {
          k = j;
          break;
        }
      }
      action_i[n] = k;
      logp[n] = l[k];
    }
  } else {
    // diagonal Gaussian: action = mean + exp(log_std) * eps, logp of it summed over A
    const T* ls = hd.log_std;
    for (int64_t n = 0; n < N; ++n) {
      const T* mean = logits + n * A;
      const T* eps = noise + n * A;
      T* act = action_f + n * A;
      T lp = 0;
      for (int64_t j = 0; j < A; ++j) {
        act[j] = mean[j] + std::exp(ls[j]) * eps[j];
        const T z = (act[j] - mean[j]) * std::exp(-ls[j]);
        lp += T(-0.5) * z * z - ls[j] - T(kHalfLog2Pi);
      }
      logp[n] = lp;
    }
  }
}

// The entry point per dtype: float gets a version per instruction set, double (tests,
// gradcheck-style references) the baseline.
#define PYRL_ACT_PARAMS(T)                                                                     \
  const T *obs, const T *state, const bool *reset, const T *noise, const Trunk<T> *trunks,     \
      int64_t n_trunks, const Heads<T> &hd, FeatNorm fnorm, Norm cnorm, double feps,          \
      double ceps, int64_t N, int64_t I, int64_t H, int64_t A, bool rnn, int64_t *action_i,   \
      T *action_f, T *value, T *logp, T *new_state
#define PYRL_ACT_ARGS                                                                          \
  obs, state, reset, noise, trunks, n_trunks, hd, fnorm, cnorm, feps, ceps, N, I, H, A, rnn,   \
      action_i, action_f, value, logp, new_state

PYRL_CPU_SETS(PYRL_TARGET_AVX2_FMA, void, run_float, (PYRL_ACT_PARAMS(float)), (PYRL_ACT_ARGS), run<float>)

template <typename T>
struct Kernel {
  static void call(PYRL_ACT_PARAMS(T)) { run<T>(PYRL_ACT_ARGS); }
};
template <>
struct Kernel<float> {
  static void call(PYRL_ACT_PARAMS(float)) { run_float(PYRL_ACT_ARGS); }
};
#undef PYRL_ACT_PARAMS
#undef PYRL_ACT_ARGS

// ---- input checks: each names the argument

void check_tensor(const at::Tensor& t, const char* name, at::IntArrayRef shape, const at::Tensor& like) {
  TORCH_CHECK(t.dim() == static_cast<int64_t>(shape.size()), "act_step: ", name, " must have ",
              shape.size(), " dimensions ", shape, ", got shape ", t.sizes());
  TORCH_CHECK(t.sizes() == shape, "act_step: ", name, " must have shape ", shape, ", got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), "act_step: ", name, " has dtype ",
              t.scalar_type(), " but obs has ", like.scalar_type(), " (all floating inputs must match)");
  TORCH_CHECK(t.device().is_cpu(), "act_step: ", name, " must be a CPU tensor, got ", t.device());
  TORCH_CHECK(t.is_contiguous(), "act_step: ", name, " must be contiguous (call .contiguous())");
}

template <typename T>
const T* need(const std::optional<at::Tensor>& t, const std::string& name, at::IntArrayRef shape,
              const at::Tensor& like) {
  TORCH_CHECK(t.has_value() && t->defined(), "act_step: ", name, " is required here but was None");
  check_tensor(*t, name.c_str(), shape, like);
  return t->data_ptr<T>();
}

void absent(const std::optional<at::Tensor>& t, const std::string& name, const char* why) {
  TORCH_CHECK(!t.has_value() || !t->defined(), "act_step: ", name, " must be None ", why);
}

bool given(const std::optional<at::Tensor>& t) { return t.has_value() && t->defined(); }

}  // namespace

std::vector<at::Tensor> act_step(
    const at::Tensor& obs, const at::Tensor& state, const at::Tensor& reset, const at::Tensor& noise,
    const std::vector<std::optional<at::Tensor>>& params, int64_t n_trunks,
    const std::string& feature_norm_name, const std::string& core_norm_name, double feature_eps,
    double core_eps) {
  const FeatNorm fnorm = parse_feature_norm(feature_norm_name);
  const Norm cnorm = parse_core_norm(core_norm_name);
  TORCH_CHECK(n_trunks == 1 || n_trunks == 2, "act_step: trunks must be 1 or 2, got ", n_trunks);
  TORCH_CHECK(static_cast<int64_t>(params.size()) == n_trunks * kTrunkFields + kHeadFields,
              "act_step: expected ", n_trunks * kTrunkFields + kHeadFields, " parameters for ", n_trunks,
              " trunk(s), got ", params.size());
  TORCH_CHECK(feature_eps > 0 && core_eps > 0, "act_step: eps must be positive");
  TORCH_CHECK(obs.dim() == 2, "act_step: obs must have 2 dimensions [N,I], got shape ", obs.sizes());
  TORCH_CHECK(obs.scalar_type() == at::kFloat || obs.scalar_type() == at::kDouble,
              "act_step: obs must be float32 or float64, got ", obs.scalar_type());
  const int64_t N = obs.size(0), I = obs.size(1);
  check_tensor(obs, "obs", {N, I}, obs);
  TORCH_CHECK(I >= 1, "act_step: obs must have at least one feature, got shape ", obs.sizes());
  const auto& w1 = params[0];
  TORCH_CHECK(given(w1) && w1->dim() == 2 && w1->size(0) >= 1,
              "act_step: weight1 must be a [H,I] tensor with H >= 1");
  const int64_t H = w1->size(0), G = 3 * H;
  const auto& pw = params[n_trunks * kTrunkFields];
  TORCH_CHECK(given(pw) && pw->dim() == 2 && pw->size(0) >= 1,
              "act_step: policy_weight must be an [A,H] tensor with A >= 1");
  const int64_t A = pw->size(0);
  const bool rnn = given(params[8]);
  const bool discrete = !given(params[n_trunks * kTrunkFields + 2]);
  const int64_t S = rnn ? n_trunks * H : 0;
  check_tensor(state, "state", {N, S}, obs);
  TORCH_CHECK(reset.scalar_type() == at::kBool && reset.dim() == 1 && reset.size(0) == N,
              "act_step: reset must be a bool tensor of shape [N] = [", N, "], got ",
              reset.scalar_type(), " ", reset.sizes());
  TORCH_CHECK(reset.device().is_cpu() && reset.is_contiguous(), "act_step: reset must be a contiguous CPU tensor");
  check_tensor(noise, discrete ? "noise (uniforms u [N,1])" : "noise (normals eps [N,A])",
               {N, discrete ? 1 : A}, obs);

  if (rnn) check_blas_choice();  // the GRU's products go through gemm.h

  std::vector<at::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(obs.scalar_type(), "act_step", [&] {
    using T = scalar_t;
    Trunk<T> tr[2] = {};
    for (int64_t t = 0; t < n_trunks; ++t) {
      const auto* q = params.data() + t * kTrunkFields;
      const std::string who = n_trunks == 2 ? (t == 0 ? "actor " : "critic ") : "";
      Trunk<T>& p = tr[t];
      p.w1 = need<T>(q[0], who + "weight1", {H, I}, obs);
      p.b1 = need<T>(q[1], who + "bias1", {H}, obs);
      p.w2 = need<T>(q[2], who + "weight2", {H, H}, obs);
      p.b2 = need<T>(q[3], who + "bias2", {H}, obs);
      const char* fwhy = "with this feature_norm";
      if (fnorm == FeatNorm::kNone) {
        absent(q[4], who + "norm_weight", fwhy);
      } else {
        p.nw = need<T>(q[4], who + "norm_weight", {H}, obs);
      }
      if (fnorm == FeatNorm::kLayer || fnorm == FeatNorm::kBatch) {
        p.nb = need<T>(q[5], who + "norm_bias", {H}, obs);
      } else {
        absent(q[5], who + "norm_bias", fwhy);
      }
      if (fnorm == FeatNorm::kBatch) {
        p.rmean = need<T>(q[6], who + "running_mean", {H}, obs);
        p.rvar = need<T>(q[7], who + "running_var", {H}, obs);
      } else {
        absent(q[6], who + "running_mean", fwhy);
        absent(q[7], who + "running_var", fwhy);
      }
      if (rnn) {
        p.wih = need<T>(q[8], who + "weight_ih", {G, H}, obs);
        p.whh = need<T>(q[9], who + "weight_hh", {G, H}, obs);
        p.bih = need<T>(q[10], who + "bias_ih", {G}, obs);
        p.bhh = need<T>(q[11], who + "bias_hh", {G}, obs);
      } else {
        static const char* const core_names[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
        for (int i = 8; i < 12; ++i) absent(q[i], who + core_names[i - 8], "without a core (the actor's weight_ih is None)");
      }
      if (rnn && cnorm != Norm::kNone) {
        p.gih = need<T>(q[12], who + "gamma_ih", {G}, obs);
        p.ghh = need<T>(q[13], who + "gamma_hh", {G}, obs);
      } else {
        absent(q[12], who + "gamma_ih", "without a core norm");
        absent(q[13], who + "gamma_hh", "without a core norm");
      }
    }
    const auto* q = params.data() + n_trunks * kTrunkFields;
    Heads<T> hd{};
    hd.pw = need<T>(q[0], "policy_weight", {A, H}, obs);
    hd.pb = need<T>(q[1], "policy_bias", {A}, obs);
    hd.log_std = discrete ? nullptr : need<T>(q[2], "log_std", {A}, obs);
    hd.vw = need<T>(q[3], "value_weight", {1, H}, obs);
    hd.vb = need<T>(q[4], "value_bias", {1}, obs);

    at::Tensor action = discrete ? at::empty({N}, obs.options().dtype(at::kLong)) : at::empty({N, A}, obs.options());
    at::Tensor value = at::empty({N}, obs.options());
    at::Tensor logp = at::empty({N}, obs.options());
    at::Tensor new_state = rnn ? at::empty({N, S}, obs.options()) : state;
    Kernel<T>::call(obs.data_ptr<T>(), state.data_ptr<T>(), reset.data_ptr<bool>(), noise.data_ptr<T>(), tr,
           n_trunks, hd, fnorm, cnorm, feature_eps, core_eps, N, I, H, A, rnn,
           discrete ? action.data_ptr<int64_t>() : nullptr, discrete ? nullptr : action.data_ptr<T>(),
           value.data_ptr<T>(), logp.data_ptr<T>(), rnn ? new_state.data_ptr<T>() : nullptr);
    out = {action, value, logp, new_state};
  });
  return out;
}

}  // namespace pyrl
