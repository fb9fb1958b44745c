// Rollout batching ops: GAE under next-step autoreset, episode statistics, reset masks.
// Semantics and shapes: rollout.h. Each op is one pass over [T,N] with no allocation per
// step; a few microseconds at T=128, N=64.
#include "rollout.h"

namespace pyrl {
namespace {

void check_cpu_contig(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), op, ": ", name, " must be a CPU tensor, got ", t.device());
  TORCH_CHECK(t.is_contiguous(), op, ": ", name, " must be contiguous");
}

void check_flags(const at::Tensor& t, const char* op, const char* name, int64_t T, int64_t N) {
  check_cpu_contig(t, op, name);
  TORCH_CHECK(t.scalar_type() == at::kBool, op, ": ", name, " must be bool, got ",
              t.scalar_type());
  TORCH_CHECK(t.dim() == 2 && t.size(0) == T && t.size(1) == N, op, ": ", name,
              " must have shape [T,N] = [", T, ",", N, "], got ", t.sizes());
}

void check_vec(const at::Tensor& t, const char* op, const char* name, int64_t N,
               at::ScalarType dtype) {
  check_cpu_contig(t, op, name);
  TORCH_CHECK(t.scalar_type() == dtype, op, ": ", name, " must be ", dtype, ", got ",
              t.scalar_type());
  TORCH_CHECK(t.dim() == 1 && t.size(0) == N, op, ": ", name, " must have shape [N] = [", N,
              "], got ", t.sizes());
}

void check_float(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, op, ": ", name,
              " must be float32 or float64, got ", t.scalar_type());
}

template <typename scalar_t>
void gae_kernel(const scalar_t* r, const scalar_t* v, const bool* term, const bool* trunc,
                const bool* prev_done, scalar_t* adv, scalar_t* ret, bool* valid, int64_t T,
                int64_t N, double gamma, double lam) {
  // Backward over t, envs innermost (rows are contiguous). next_adv[n] is the advantage of
  // step t+1 while it continues step t's episode; zero past the rollout's end.
  std::vector<double> next_adv(N, 0.0);
  const double gl = gamma * lam;
  for (int64_t t = T - 1; t >= 0; --t) {
    const bool* before = t > 0 ? nullptr : prev_done;  // done flags of step t-1
    for (int64_t n = 0; n < N; ++n) {
      const int64_t i = t * N + n;
      const bool reset_step =
          t > 0 ? (term[i - N] || trunc[i - N]) : static_cast<bool>(before[n]);
      if (reset_step) {
        adv[i] = 0;
        ret[i] = v[i];
        valid[i] = false;
        next_adv[n] = 0.0;
        continue;
      }
      const bool ended = term[i] || trunc[i];
      const double bootstrap = term[i] ? 0.0 : gamma * static_cast<double>(v[i + N]);
      const double delta =
          static_cast<double>(r[i]) + bootstrap - static_cast<double>(v[i]);
      const double a = ended ? delta : delta + gl * next_adv[n];
      adv[i] = static_cast<scalar_t>(a);
      ret[i] = static_cast<scalar_t>(a + static_cast<double>(v[i]));
      valid[i] = true;
      next_adv[n] = a;
    }
  }
}

}  // namespace

std::vector<at::Tensor> gae(const at::Tensor& rewards, const at::Tensor& values,
                            const at::Tensor& terminated, const at::Tensor& truncated,
                            const at::Tensor& prev_done, double gamma, double lam) {
  const char* op = "gae";
  check_cpu_contig(rewards, op, "rewards");
  check_cpu_contig(values, op, "values");
  check_float(rewards, op, "rewards");
  check_float(values, op, "values");
  TORCH_CHECK(rewards.scalar_type() == values.scalar_type(),
              "gae: rewards and values must have the same dtype, got ", rewards.scalar_type(),
              " and ", values.scalar_type());
  TORCH_CHECK(rewards.dim() == 2, "gae: rewards must have shape [T,N], got ", rewards.sizes());
  const int64_t T = rewards.size(0), N = rewards.size(1);
  TORCH_CHECK(values.dim() == 2 && values.size(0) == T + 1 && values.size(1) == N,
              "gae: values must have shape [T+1,N] = [", T + 1, ",", N, "], got ",
              values.sizes());
  check_flags(terminated, op, "terminated", T, N);
  check_flags(truncated, op, "truncated", T, N);
  check_vec(prev_done, op, "prev_done", N, at::kBool);
  TORCH_CHECK(gamma >= 0.0 && gamma <= 1.0, "gae: gamma must be in [0, 1], got ", gamma);
  TORCH_CHECK(lam >= 0.0 && lam <= 1.0, "gae: lam must be in [0, 1], got ", lam);

  auto adv = at::empty({T, N}, rewards.options());
  auto ret = at::empty({T, N}, rewards.options());
  auto valid = at::empty({T, N}, rewards.options().dtype(at::kBool));
  AT_DISPATCH_FLOATING_TYPES(rewards.scalar_type(), "gae", [&] {
    gae_kernel<scalar_t>(rewards.data_ptr<scalar_t>(), values.data_ptr<scalar_t>(),
                         terminated.data_ptr<bool>(), truncated.data_ptr<bool>(),
                         prev_done.data_ptr<bool>(), adv.data_ptr<scalar_t>(),
                         ret.data_ptr<scalar_t>(), valid.data_ptr<bool>(), T, N, gamma, lam);
  });
  return {adv, ret, valid};
}

std::vector<at::Tensor> episode_stats(const at::Tensor& rewards, const at::Tensor& terminated,
                                      const at::Tensor& truncated, at::Tensor& prev_done,
                                      at::Tensor& ep_return, at::Tensor& ep_length,
                                      int64_t step_offset) {
  const char* op = "episode_stats";
  check_cpu_contig(rewards, op, "rewards");
  check_float(rewards, op, "rewards");
  TORCH_CHECK(rewards.dim() == 2, "episode_stats: rewards must have shape [T,N], got ",
              rewards.sizes());
  const int64_t T = rewards.size(0), N = rewards.size(1);
  check_flags(terminated, op, "terminated", T, N);
  check_flags(truncated, op, "truncated", T, N);
  check_vec(prev_done, op, "prev_done", N, at::kBool);
  check_vec(ep_return, op, "ep_return", N, at::kDouble);
  check_vec(ep_length, op, "ep_length", N, at::kLong);

  const bool* term = terminated.data_ptr<bool>();
  const bool* trunc = truncated.data_ptr<bool>();
  bool* done = prev_done.data_ptr<bool>();
  double* R = ep_return.data_ptr<double>();
  int64_t* L = ep_length.data_ptr<int64_t>();
  std::vector<int64_t> env, step, len;
  std::vector<double> rets;
  AT_DISPATCH_FLOATING_TYPES(rewards.scalar_type(), "episode_stats", [&] {
    const scalar_t* r = rewards.data_ptr<scalar_t>();
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t n = 0; n < N; ++n) {
        const int64_t i = t * N + n;
        if (done[n]) {  // reset step: starts the next episode's sums, is not counted
          R[n] = 0.0;
          L[n] = 0;
        } else {
          R[n] += static_cast<double>(r[i]);
          L[n] += 1;
        }
        done[n] = term[i] || trunc[i];
        if (done[n]) {
          env.push_back(n);
          step.push_back(step_offset + t);
          rets.push_back(R[n]);
          len.push_back(L[n]);
        }
      }
    }
  });
  const int64_t K = static_cast<int64_t>(env.size());
  auto i64 = at::TensorOptions().dtype(at::kLong);
  auto out_env = at::empty({K}, i64), out_step = at::empty({K}, i64);
  auto out_len = at::empty({K}, i64);
  auto out_ret = at::empty({K}, at::TensorOptions().dtype(at::kDouble));
  if (K > 0) {
    std::copy(env.begin(), env.end(), out_env.data_ptr<int64_t>());
    std::copy(step.begin(), step.end(), out_step.data_ptr<int64_t>());
    std::copy(len.begin(), len.end(), out_len.data_ptr<int64_t>());
    std::copy(rets.begin(), rets.end(), out_ret.data_ptr<double>());
  }
  return {out_env, out_step, out_ret, out_len};
}

std::vector<at::Tensor> rollout_masks(const at::Tensor& terminated,
                                      const at::Tensor& truncated,
                                      const at::Tensor& prev_done,
                                      const at::Tensor& prev_reset_step) {
  const char* op = "rollout_masks";
  TORCH_CHECK(terminated.dim() == 2, "rollout_masks: terminated must have shape [T,N], got ",
              terminated.sizes());
  const int64_t T = terminated.size(0), N = terminated.size(1);
  check_flags(terminated, op, "terminated", T, N);
  check_flags(truncated, op, "truncated", T, N);
  check_vec(prev_done, op, "prev_done", N, at::kBool);
  check_vec(prev_reset_step, op, "prev_reset_step", N, at::kBool);
  auto reset_step = at::empty({T, N}, terminated.options());
  auto reset = at::empty({T, N}, terminated.options());
  const bool* term = terminated.data_ptr<bool>();
  const bool* trunc = truncated.data_ptr<bool>();
  const bool* pd = prev_done.data_ptr<bool>();
  const bool* prs = prev_reset_step.data_ptr<bool>();
  bool* rs = reset_step.data_ptr<bool>();
  bool* rz = reset.data_ptr<bool>();
  if (T == 0) return {reset_step, reset};  // an empty chunk: nothing to write (the rows below are step 0's)
  for (int64_t n = 0; n < N; ++n) {
    rs[n] = pd[n];
    rz[n] = prs[n];
  }
  for (int64_t i = N; i < T * N; ++i) {
    rs[i] = term[i - N] || trunc[i - N];
    rz[i] = rs[i - N];
  }
  return {reset_step, reset};
}

}  // namespace pyrl
