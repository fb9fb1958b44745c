// A worker's training update over raw pointers: the shared Adam/RMSProp step, gradient
// clipping and the refresh of the local copy (declarations and contracts: optim.h).
//
// Why: the model has 20-30 small parameter tensors, and the multi-tensor (_foreach) ops of
// the Python optimizer dispatch one kernel per tensor per stage on the CPU, a dozen stages a
// step: the dispatch, not the arithmetic, was a fifth of an LN-GRU worker's time. Here each
// of the three is one call.
//
// Memory order of the optimizer step (the argument is SharedOptimizer.step's): per chunk of
// elements, all m are read, then all v; v is written back before m. An acquire fence sits
// between the m and v reads and a release fence between the v and m writes: the
// message-passing pattern, so a reader that sees a writer's m also sees that writer's v (or
// a newer one). On x86-64 (TSO) both fences are compiler barriers only and cost nothing; on
// aarch64 they are `dmb ishld` / `dmb ish`. The accesses themselves stay plain (vectorised)
// loads and stores, as Hogwild's are: the fences order them on the hardware, and the C++
// memory model, which only orders atomics, promises nothing more (README, "Hogwild").
#include "optim.h"

#include "cpu_isa.h"
#include "portability.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>
#include <utility>

namespace pyrl {
namespace {

// The element loops are compiled for AVX2 and AVX besides the baseline and picked per call by
// the process-wide instruction-set switch, as in act.cpp (cpu_isa.h). The AVX2 version
// leaves FMA out on purpose: elementwise IEEE ops (no FMA, no reassociation) give the same
// bits at every width, so every set equals the reference exactly.
#define PYRL_OPTIM_SETS(RET, NAME, PARAMS, ARGS, BODY) \
  PYRL_CPU_SETS(PYRL_TARGET_AVX2, RET, NAME, PARAMS, ARGS, BODY)

constexpr int64_t kChunk = 256;  // elements staged per pass; fits on the stack in float64

inline void compiler_fence() { std::atomic_signal_fence(std::memory_order_seq_cst); }

// Where a step may be held, for a test that forces interleavings of two processes' steps:
// before and after each of its four accesses to the shared moments (per chunk). Real steps
// use NoHold, which compiles to nothing; tests use TurnHold (below).
enum class Access { kReadM, kReadV, kWriteV, kWriteM };
struct NoHold {
  void before(Access) const {}
  void after(Access) const {}
};

// A tensor these ops wrote: its version moves on, so a graph that saved it raises on
// backward, as after any in-place op.
inline void bump_version(const at::Tensor& t) { torch::autograd::impl::bump_version(t); }

// The lists' entries must line up: one dtype, one numel per index, contiguous CPU tensors.
void check_lists(const char* op, const std::vector<at::Tensor>& ref, const char* ref_name,
                 const std::vector<at::Tensor>& other, const char* other_name) {
  TORCH_CHECK(other.size() == ref.size(), op, ": ", other_name, " has ", other.size(),
              " tensors but ", ref_name, " has ", ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    const at::Tensor& a = ref[i];
    const at::Tensor& b = other[i];
    TORCH_CHECK(b.device().is_cpu() && b.is_contiguous(), op, ": ", other_name, "[", i,
                "] must be a contiguous CPU tensor");
    TORCH_CHECK(b.scalar_type() == a.scalar_type() && b.numel() == a.numel(), op, ": ",
                other_name, "[", i, "] (", b.scalar_type(), ", ", b.numel(),
                " elements) does not match ", ref_name, "[", i, "] (", a.scalar_type(), ", ",
                a.numel(), " elements)");
  }
}

void check_float_list(const char* op, const std::vector<at::Tensor>& list, const char* name) {
  for (size_t i = 0; i < list.size(); ++i) {
    const at::Tensor& t = list[i];
    TORCH_CHECK(t.device().is_cpu() && t.is_contiguous(), op, ": ", name, "[", i,
                "] must be a contiguous CPU tensor");
    TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, op, ": ", name,
                "[", i, "] must be float32 or float64, got ", t.scalar_type());
  }
}

// The element loops take their four arrays as __restrict: entry i of params, grads, exp_avg
// and sq_avg must not share memory, or the compiled loops may read stale values.
void check_disjoint(const char* op, size_t i, std::initializer_list<std::pair<const char*, const at::Tensor*>> ts) {
  for (auto a = ts.begin(); a != ts.end(); ++a) {
    for (auto b = a + 1; b != ts.end(); ++b) {
      const auto* pa = static_cast<const char*>(a->second->data_ptr());
      const auto* pb = static_cast<const char*>(b->second->data_ptr());
      const size_t na = a->second->nbytes(), nb = b->second->nbytes();
      TORCH_CHECK(na == 0 || nb == 0 || pa + na <= pb || pb + nb <= pa, op, ": ", a->first, "[", i, "] and ",
                  b->first, "[", i, "] share memory (each must be its own tensor)");
    }
  }
}

struct AdamConsts {
  double lr_step;   // lr * sqrt(1 - b2^t) / (1 - b1^t)
  double one_m_b1;  // lerp weight of the new gradient
  double b2, one_m_b2;
  double eps_hat;   // eps * sqrt(1 - b2^t)
  double m_bound;   // < 0: no clamp
};

AdamConsts adam_consts(double t, double lr, double beta1, double beta2, double eps, double m_bound) {
  const double bc1 = 1 - std::pow(beta1, t), bc2 = 1 - std::pow(beta2, t);
  return AdamConsts{lr * std::sqrt(bc2) / bc1, 1 - beta1, beta2, 1 - beta2, eps * std::sqrt(bc2), m_bound};
}

// torch's lerp for a weight below 0.5 (self + w (end - self)), addcmul, sqrt, the clamp,
// add, addcdiv: SharedOptimizer's reference step, element by element, in T.
template <typename T, typename Hold = NoHold>
PYRL_ALWAYS_INLINE void adam_tensor(T* __restrict p, const T* __restrict g, T* __restrict m,
                                   T* __restrict v, int64_t n, const AdamConsts& c,
                                   const Hold& hold = Hold{}) {
  const T w = static_cast<T>(c.one_m_b1), b2 = static_cast<T>(c.b2),
          one_m_b2 = static_cast<T>(c.one_m_b2), eps_hat = static_cast<T>(c.eps_hat),
          bound = static_cast<T>(c.m_bound), step = static_cast<T>(-c.lr_step);
  const bool clamp = c.m_bound >= 0;
  T m_new[kChunk], v_new[kChunk];
  for (int64_t s = 0; s < n; s += kChunk) {
    const int64_t k = std::min(kChunk, n - s);
    hold.before(Access::kReadM);
    for (int64_t i = 0; i < k; ++i) m_new[i] = m[s + i];  // m read first ...
    hold.after(Access::kReadM);
    std::atomic_thread_fence(std::memory_order_acquire);
    hold.before(Access::kReadV);
    for (int64_t i = 0; i < k; ++i) v_new[i] = v[s + i];  // ... then v
    hold.after(Access::kReadV);
    compiler_fence();
    for (int64_t i = 0; i < k; ++i) {
      const T gi = g[s + i];
      m_new[i] = m_new[i] + w * (gi - m_new[i]);
      v_new[i] = v_new[i] * b2 + one_m_b2 * gi * gi;
    }
    compiler_fence();
    hold.before(Access::kWriteV);
    for (int64_t i = 0; i < k; ++i) v[s + i] = v_new[i];  // v written first ...
    hold.after(Access::kWriteV);
    std::atomic_thread_fence(std::memory_order_release);
    hold.before(Access::kWriteM);
    for (int64_t i = 0; i < k; ++i) m[s + i] = m_new[i];  // ... then m
    hold.after(Access::kWriteM);
    compiler_fence();
    for (int64_t i = 0; i < k; ++i) {
      T denom = std::sqrt(v_new[i]);
      T mi = m_new[i];
      if (clamp) {
        const T lim = denom * bound;
        mi = std::max(std::min(mi, lim), -lim);
      }
      denom = denom + eps_hat;
      p[s + i] = p[s + i] + step * mi / denom;  // addcdiv's (value * m) / denom
    }
  }
}

// RMSProp as in the A3C paper (SharedOptimizer's reference): v' = alpha v + (1 - alpha) g^2,
// written back, then p -= lr g / (sqrt(v') + eps) with this call's own v'.
template <typename T>
PYRL_ALWAYS_INLINE void rmsprop_tensor(T* __restrict p, const T* __restrict g, T* __restrict v,
                                      int64_t n, double lr, double alpha, double eps) {
  const T a = static_cast<T>(alpha), one_m_a = static_cast<T>(1 - alpha),
          e = static_cast<T>(eps), step = static_cast<T>(-lr);
  T v_new[kChunk];
  for (int64_t s = 0; s < n; s += kChunk) {
    const int64_t k = std::min(kChunk, n - s);
    for (int64_t i = 0; i < k; ++i) v_new[i] = v[s + i];
    compiler_fence();
    for (int64_t i = 0; i < k; ++i) {
      const T gi = g[s + i];
      v_new[i] = v_new[i] * a + one_m_a * gi * gi;
    }
    compiler_fence();
    for (int64_t i = 0; i < k; ++i) v[s + i] = v_new[i];
    compiler_fence();
    for (int64_t i = 0; i < k; ++i) {
      const T denom = std::sqrt(v_new[i]) + e;
      p[s + i] = p[s + i] + step * g[s + i] / denom;
    }
  }
}

// One compiled entry per dtype and rule, in every instruction set.
PYRL_OPTIM_SETS(void, adam_float, (float* p, const float* g, float* m, float* v, int64_t n, const AdamConsts& c),
                (p, g, m, v, n, c), adam_tensor<float>)
PYRL_OPTIM_SETS(void, adam_double,
                (double* p, const double* g, double* m, double* v, int64_t n, const AdamConsts& c),
                (p, g, m, v, n, c), adam_tensor<double>)
PYRL_OPTIM_SETS(void, rmsprop_float,
                (float* p, const float* g, float* v, int64_t n, double lr, double alpha, double eps),
                (p, g, v, n, lr, alpha, eps), rmsprop_tensor<float>)
PYRL_OPTIM_SETS(void, rmsprop_double,
                (double* p, const double* g, double* v, int64_t n, double lr, double alpha, double eps),
                (p, g, v, n, lr, alpha, eps), rmsprop_tensor<double>)

// Sum of squares in float64 over 8 interleaved partial sums (vectorisable; a fixed order,
// so the same result every call).
template <typename T>
PYRL_ALWAYS_INLINE double sum_squares(const T* __restrict g, int64_t n) {
  double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) part[k] += static_cast<double>(g[i + k]) * static_cast<double>(g[i + k]);
  }
  for (; i < n; ++i) part[0] += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}
PYRL_OPTIM_SETS(double, sum_squares_float, (const float* g, int64_t n), (g, n), sum_squares<float>)
PYRL_OPTIM_SETS(double, sum_squares_double, (const double* g, int64_t n), (g, n), sum_squares<double>)

// dst <- src, then whether every element of dst is finite.
template <typename T>
PYRL_ALWAYS_INLINE bool copy_all_finite(T* __restrict d, const T* __restrict s, int64_t n) {
  std::copy(s, s + n, d);
  int bad = 0;
  for (int64_t j = 0; j < n; ++j) bad |= !std::isfinite(d[j]);
  return bad == 0;
}
PYRL_OPTIM_SETS(bool, copy_all_finite_float, (float* d, const float* s, int64_t n), (d, s, n),
                copy_all_finite<float>)
PYRL_OPTIM_SETS(bool, copy_all_finite_double, (double* d, const double* s, int64_t n), (d, s, n),
                copy_all_finite<double>)

// A test's hold: a step waits before each access until order[*turn] names it, and moves
// *turn on after it. `turn` lives in memory shared by the processes under test.
struct TurnHold {
  const int8_t* order;
  int64_t length;
  int32_t* turn;
  int8_t who;

  void before(Access) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      const int32_t t = __atomic_load_n(turn, __ATOMIC_ACQUIRE);
      TORCH_CHECK(t < length, "optim_step_held: the order has no turn left for worker ", int(who));
      if (order[t] == who) return;
      TORCH_CHECK(std::chrono::steady_clock::now() < deadline,
                  "optim_step_held: worker ", int(who), " waited 30 s for its turn");
      std::this_thread::yield();
    }
  }
  void after(Access) const { __atomic_fetch_add(turn, 1, __ATOMIC_ACQ_REL); }
};

}  // namespace

void optim_step(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
                const std::vector<at::Tensor>& exp_avg, const std::vector<at::Tensor>& sq_avg,
                const at::Tensor& step_count, const std::string& kind, double lr, double beta1,
                double beta2, double alpha, double eps, double m_bound) {
  const bool adam = kind == "adam";
  TORCH_CHECK(adam || kind == "rmsprop", "optim_step: kind must be \"adam\" or \"rmsprop\", got \"",
              kind, "\"");
  check_float_list("optim_step", params, "params");
  check_lists("optim_step", params, "params", grads, "grads");
  check_lists("optim_step", params, "params", sq_avg, "sq_avg");
  if (adam) check_lists("optim_step", params, "params", exp_avg, "exp_avg");
  TORCH_CHECK(step_count.device().is_cpu() && step_count.scalar_type() == at::kDouble &&
                  step_count.numel() == 1,
              "optim_step: step_count must be a CPU float64 tensor of one element");
  for (size_t i = 0; i < params.size(); ++i) {
    if (adam) {
      check_disjoint("optim_step", i, {{"params", &params[i]}, {"grads", &grads[i]}, {"exp_avg", &exp_avg[i]},
                                       {"sq_avg", &sq_avg[i]}});
    } else {
      check_disjoint("optim_step", i, {{"params", &params[i]}, {"grads", &grads[i]}, {"sq_avg", &sq_avg[i]}});
    }
  }
  double* count = step_count.data_ptr<double>();
  const double t = (*count += 1.0);  // a plain read-modify-write, as SharedOptimizer's += 1
  const AdamConsts c = adam ? adam_consts(t, lr, beta1, beta2, eps, m_bound) : AdamConsts{};
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t n = params[i].numel();
    const bool f32 = params[i].scalar_type() == at::kFloat;
    if (adam && f32) {
      adam_float(params[i].data_ptr<float>(), grads[i].data_ptr<float>(),
                 exp_avg[i].data_ptr<float>(), sq_avg[i].data_ptr<float>(), n, c);
    } else if (adam) {
      adam_double(params[i].data_ptr<double>(), grads[i].data_ptr<double>(),
                  exp_avg[i].data_ptr<double>(), sq_avg[i].data_ptr<double>(), n, c);
    } else if (f32) {
      rmsprop_float(params[i].data_ptr<float>(), grads[i].data_ptr<float>(),
                    sq_avg[i].data_ptr<float>(), n, lr, alpha, eps);
    } else {
      rmsprop_double(params[i].data_ptr<double>(), grads[i].data_ptr<double>(),
                     sq_avg[i].data_ptr<double>(), n, lr, alpha, eps);
    }
    // written through raw pointers: tell autograd, as an in-place op would
    bump_version(params[i]);
    bump_version(sq_avg[i]);
    if (adam) bump_version(exp_avg[i]);
  }
  bump_version(step_count);
}

void optim_step_held(const at::Tensor& param, const at::Tensor& grad, const at::Tensor& exp_avg,
                     const at::Tensor& sq_avg, double t, double lr, double beta1, double beta2,
                     double eps, double m_bound, const at::Tensor& order, const at::Tensor& turn,
                     int64_t who) {
  check_float_list("optim_step_held", {param}, "param");
  TORCH_CHECK(param.scalar_type() == at::kDouble, "optim_step_held: float64 only");
  for (const at::Tensor* x : {&grad, &exp_avg, &sq_avg})
    check_lists("optim_step_held", {param}, "param", {*x}, "moment or grad");
  TORCH_CHECK(order.scalar_type() == at::kChar && order.dim() == 1 && order.is_contiguous() &&
                  turn.scalar_type() == at::kInt && turn.numel() == 1 && turn.is_contiguous(),
              "optim_step_held: order must be int8 [L], turn int32 [1]");
  const TurnHold hold{order.data_ptr<int8_t>(), order.numel(), turn.data_ptr<int32_t>(),
                      static_cast<int8_t>(who)};
  adam_tensor<double, TurnHold>(param.data_ptr<double>(), grad.data_ptr<double>(),
                                exp_avg.data_ptr<double>(), sq_avg.data_ptr<double>(),
                                param.numel(), adam_consts(t, lr, beta1, beta2, eps, m_bound), hold);
}

double clip_grad_norm(const std::vector<at::Tensor>& grads, double max_norm) {
  check_float_list("clip_grad_norm", grads, "grads");
  double sum = 0.0;
  for (const at::Tensor& grad : grads) {
    sum += grad.scalar_type() == at::kFloat ? sum_squares_float(grad.data_ptr<float>(), grad.numel())
                                            : sum_squares_double(grad.data_ptr<double>(), grad.numel());
  }
  const double norm = std::sqrt(sum);
  const double scale = max_norm / (norm + 1e-6);
  if (std::isfinite(norm) && scale < 1.0) {
    for (const at::Tensor& grad : grads) {
      AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "clip_grad_norm", [&] {
        scalar_t* g = grad.data_ptr<scalar_t>();
        const scalar_t f = static_cast<scalar_t>(scale);
        for (int64_t i = 0, n = grad.numel(); i < n; ++i) g[i] *= f;
      });
      bump_version(grad);
    }
  }
  return norm;
}

int64_t refresh(const std::vector<at::Tensor>& dst, const std::vector<at::Tensor>& src) {
  check_float_list("refresh", dst, "dst");
  check_lists("refresh", dst, "dst", src, "src");
  int64_t first_bad = -1;
  for (size_t i = 0; i < dst.size(); ++i) {
    // checks the copy, never the source (another worker may be writing it)
    const int64_t n = dst[i].numel();
    const bool finite =
        dst[i].scalar_type() == at::kFloat
            ? copy_all_finite_float(dst[i].data_ptr<float>(), src[i].data_ptr<float>(), n)
            : copy_all_finite_double(dst[i].data_ptr<double>(), src[i].data_ptr<double>(), n);
    bump_version(dst[i]);
    if (!finite && first_bad < 0) first_bad = static_cast<int64_t>(i);
  }
  return first_bad;
}

}  // namespace pyrl
