// The ops of pyrl._C registered with torch's dispatcher (namespace `pyrl`, torch.ops.pyrl.*):
// schemas, a kernel per device, and autograd registered on the op, so that torch.compile
// and torch.library.opcheck see them as they see ATen's. Their fake (meta) kernels, which
// give output shapes without computing, are in pyrl/ops.py (torch.library.register_fake).
//
// Registered: the norm-GRU's forward and backward, the sequence op with its autograd (what
// LNGRU calls), the fused act step, the rollout ops (gae, rollout_masks, and episode_stats,
// which updates its running state in place) and the shared optimizer step (in place on its
// lists). clip_grad_norm and refresh are not: they return a host number (the norm, the first
// non-finite index) that a compiled graph could only hold as a constant; they stay plain
// pybind11 (bindings.cpp). pyrl.ops calls the pybind11 entries of the hot per-step ops when
// not compiling (the dispatcher's boxing costs more than it does: bench/README.md).
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <tuple>

#include "act.h"
#include "optim.h"
#include "pyrl.h"
#include "rollout.h"

namespace pyrl {
namespace {

using OptTensor = std::optional<at::Tensor>;

// Kernels with the dispatcher's argument types (str as c10::string_view, Tensor?[] as a
// c10::List) over the ops' own signatures.
template <auto F>  // lngru_forward or lngru_forward_cuda
std::vector<at::Tensor> forward_kernel(const at::Tensor& x, const at::Tensor& h0,
                                       const at::Tensor& reset, const at::Tensor& weight_ih,
                                       const at::Tensor& weight_hh, const at::Tensor& bias_ih,
                                       const at::Tensor& bias_hh, const OptTensor& gamma_ih,
                                       const OptTensor& gamma_hh, double eps,
                                       c10::string_view norm) {
  return F(x, h0, reset, weight_ih, weight_hh, bias_ih, bias_hh, gamma_ih, gamma_hh, eps,
           std::string(norm));
}

template <auto F>  // lngru_backward or lngru_backward_cuda
std::vector<at::Tensor> backward_kernel(
    const at::Tensor& grad_out, const at::Tensor& grad_hT, const at::Tensor& x,
    const at::Tensor& h0, const at::Tensor& reset, const at::Tensor& weight_ih,
    const at::Tensor& weight_hh, const at::Tensor& bias_hh, const OptTensor& gamma_ih,
    const OptTensor& gamma_hh, const at::Tensor& out, const at::Tensor& xhat,
    const at::Tensor& hhat, const at::Tensor& rstd, const at::Tensor& gates,
    c10::string_view norm) {
  return F(grad_out, grad_hT, x, h0, reset, weight_ih, weight_hh, bias_hh, gamma_ih, gamma_hh,
           out, xhat, hhat, rstd, gates, std::string(norm));
}

// The forward through the dispatcher: under torch.compile's tracing the inputs are fake
// tensors, and the dispatcher sends them to the fake kernel, never to one that reads memory.
std::vector<at::Tensor> call_lngru_forward(const at::Tensor& x, const at::Tensor& h0,
                                           const at::Tensor& reset, const at::Tensor& weight_ih,
                                           const at::Tensor& weight_hh, const at::Tensor& bias_ih,
                                           const at::Tensor& bias_hh, const OptTensor& gamma_ih,
                                           const OptTensor& gamma_hh, double eps,
                                           c10::string_view norm) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("pyrl::lngru_forward", "")
                             .typed<decltype(forward_kernel<&lngru_forward>)>();
  return op.call(x, h0, reset, weight_ih, weight_hh, bias_ih, bias_hh, gamma_ih, gamma_hh, eps, norm);
}

std::vector<at::Tensor> call_lngru_backward(
    const at::Tensor& grad_out, const at::Tensor& grad_hT, const at::Tensor& x,
    const at::Tensor& h0, const at::Tensor& reset, const at::Tensor& weight_ih,
    const at::Tensor& weight_hh, const at::Tensor& bias_hh, const OptTensor& gamma_ih,
    const OptTensor& gamma_hh, const at::Tensor& out, const at::Tensor& xhat,
    const at::Tensor& hhat, const at::Tensor& rstd, const at::Tensor& gates,
    c10::string_view norm) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("pyrl::lngru_backward", "")
          .typed<decltype(backward_kernel<&lngru_backward>)>();
  return op.call(grad_out, grad_hT, x, h0, reset, weight_ih, weight_hh, bias_hh, gamma_ih,
                 gamma_hh, out, xhat, hhat, rstd, gates, norm);
}

// The sequence op's autograd, in C++: forward and backward run without Python (a Python
// autograd.Function cost more per call than the op's arithmetic at A3C sizes).
struct LNGRUFunction : public torch::autograd::Function<LNGRUFunction> {
  static torch::autograd::variable_list forward(
      torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& h0,
      const at::Tensor& reset, const at::Tensor& weight_ih, const at::Tensor& weight_hh,
      const at::Tensor& bias_ih, const at::Tensor& bias_hh, const at::Tensor& gamma_ih,
      const at::Tensor& gamma_hh, double eps, const std::string& norm) {
    // without a norm the gains are empty placeholders (autograd's inputs must be defined)
    const bool gain = norm != "none";
    const OptTensor g_ih = gain ? OptTensor(gamma_ih) : std::nullopt;
    const OptTensor g_hh = gain ? OptTensor(gamma_hh) : std::nullopt;
    at::AutoDispatchBelowADInplaceOrView below;
    auto res = call_lngru_forward(x, h0, reset, weight_ih, weight_hh, bias_ih, bias_hh, g_ih,
                                  g_hh, eps, norm);
    const at::Tensor& out = res[0];
    ctx->saved_data["norm"] = norm;
    ctx->save_for_backward({x, h0, reset, weight_ih, weight_hh, bias_hh, out, res[1], res[2],
                            res[3], res[4], gamma_ih, gamma_hh});
    // h_T is a copy, not a view of out, so both outputs stay independent for autograd
    return {out, out.select(0, -1).clone()};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    // the backward is not itself differentiable (once_differentiable): refuse a graph of it
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "lngru: double backward (create_graph=True) is not supported by the fused op");
    const auto s = ctx->get_saved_variables();
    const std::string norm = ctx->saved_data["norm"].toStringRef();
    const bool gain = norm != "none";
    const OptTensor g_ih = gain ? OptTensor(s[11]) : std::nullopt;
    const OptTensor g_hh = gain ? OptTensor(s[12]) : std::nullopt;
    // grads are materialised (an unused output's gradient arrives as zeros)
    auto d = call_lngru_backward(grads[0], grads[1], s[0], s[1], s[2], s[3], s[4], s[5], g_ih,
                                 g_hh, s[6], s[7], s[8], s[9], s[10], norm);
    return {d[0], d[1], at::Tensor(), d[2], d[3], d[4], d[5],
            gain ? d[6] : at::Tensor(), gain ? d[7] : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor> lngru_sequence_autograd(
    const at::Tensor& x, const at::Tensor& h0, const at::Tensor& reset,
    const at::Tensor& weight_ih, const at::Tensor& weight_hh, const at::Tensor& bias_ih,
    const at::Tensor& bias_hh, const OptTensor& gamma_ih, const OptTensor& gamma_hh, double eps,
    c10::string_view norm) {
  const at::Tensor none = at::empty({0}, x.options());
  auto res = LNGRUFunction::apply(x, h0, reset, weight_ih, weight_hh, bias_ih, bias_hh,
                                  gamma_ih.value_or(none), gamma_hh.value_or(none), eps,
                                  std::string(norm));
  return {res[0], res[1]};
}

// Below autograd (inference, and the graphs torch.compile makes): the forward alone.
std::tuple<at::Tensor, at::Tensor> lngru_sequence_forward_only(
    const at::Tensor& x, const at::Tensor& h0, const at::Tensor& reset,
    const at::Tensor& weight_ih, const at::Tensor& weight_hh, const at::Tensor& bias_ih,
    const at::Tensor& bias_hh, const OptTensor& gamma_ih, const OptTensor& gamma_hh, double eps,
    c10::string_view norm) {
  auto res = call_lngru_forward(x, h0, reset, weight_ih, weight_hh, bias_ih, bias_hh, gamma_ih,
                                gamma_hh, eps, norm);
  return {res[0], res[0].select(0, -1).clone()};
}

std::vector<at::Tensor> act_step_kernel(const at::Tensor& obs, const at::Tensor& state,
                                        const at::Tensor& reset, const at::Tensor& noise,
                                        const c10::List<OptTensor>& params, int64_t trunks,
                                        c10::string_view feature_norm, c10::string_view core_norm,
                                        double feature_eps, double core_eps) {
  const std::vector<OptTensor> list(params.begin(), params.end());
  auto res = act_step(obs, state, reset, noise, list, trunks, std::string(feature_norm),
                      std::string(core_norm), feature_eps, core_eps);
  // without a core the state passes through: a new (empty) tensor, not the input itself,
  // since the schema promises outputs that alias no input
  if (res[3].is_same(state)) res[3] = state.clone();
  return res;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> episode_stats_kernel(
    const at::Tensor& rewards, const at::Tensor& terminated, const at::Tensor& truncated,
    at::Tensor& prev_done, at::Tensor& ep_return, at::Tensor& ep_length, int64_t step_offset) {
  auto r = episode_stats(rewards, terminated, truncated, prev_done, ep_return, ep_length, step_offset);
  return {r[0], r[1], r[2], r[3]};
}

void optim_step_kernel(at::TensorList params, at::TensorList grads, at::TensorList exp_avg,
                       at::TensorList sq_avg, const at::Tensor& step_count, c10::string_view kind,
                       double lr, double beta1, double beta2, double alpha, double eps, double m_bound) {
  optim_step(params.vec(), grads.vec(), exp_avg.vec(), sq_avg.vec(), step_count, std::string(kind), lr,
             beta1, beta2, alpha, eps, m_bound);
}

}  // namespace

TORCH_LIBRARY(pyrl, m) {
  m.def("lngru_forward(Tensor x, Tensor h0, Tensor reset, Tensor weight_ih, Tensor weight_hh, "
        "Tensor bias_ih, Tensor bias_hh, Tensor? gamma_ih, Tensor? gamma_hh, float eps, str norm)"
        " -> Tensor[]");
  m.def("lngru_backward(Tensor grad_out, Tensor grad_hT, Tensor x, Tensor h0, Tensor reset, "
        "Tensor weight_ih, Tensor weight_hh, Tensor bias_hh, Tensor? gamma_ih, Tensor? gamma_hh, "
        "Tensor out, Tensor xhat, Tensor hhat, Tensor rstd, Tensor gates, str norm) -> Tensor[]");
  m.def("lngru_sequence(Tensor x, Tensor h0, Tensor reset, Tensor weight_ih, Tensor weight_hh, "
        "Tensor bias_ih, Tensor bias_hh, Tensor? gamma_ih, Tensor? gamma_hh, float eps, str norm)"
        " -> (Tensor, Tensor)");
  m.def("act_step(Tensor obs, Tensor state, Tensor reset, Tensor noise, Tensor?[] params, "
        "int trunks, str feature_norm, str core_norm, float feature_eps, float core_eps) -> Tensor[]");
  m.def("gae(Tensor rewards, Tensor values, Tensor terminated, Tensor truncated, Tensor prev_done, "
        "float gamma, float lam) -> Tensor[]");
  m.def("rollout_masks(Tensor terminated, Tensor truncated, Tensor prev_done, "
        "Tensor prev_reset_step) -> Tensor[]");
  m.def("episode_stats(Tensor rewards, Tensor terminated, Tensor truncated, Tensor(a!) prev_done, "
        "Tensor(b!) ep_return, Tensor(c!) ep_length, int step_offset) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def("optim_step(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] exp_avg, Tensor(c!)[] sq_avg, "
        "Tensor(d!) step_count, str kind, float lr, float beta1, float beta2, float alpha, float eps, "
        "float m_bound) -> ()");
}

TORCH_LIBRARY_IMPL(pyrl, CPU, m) {
  m.impl("lngru_forward", &forward_kernel<&lngru_forward>);
  m.impl("lngru_backward", &backward_kernel<&lngru_backward>);
  m.impl("act_step", &act_step_kernel);
  m.impl("gae", &gae);
  m.impl("rollout_masks", &rollout_masks);
  m.impl("episode_stats", &episode_stats_kernel);
  m.impl("optim_step", &optim_step_kernel);
}

#ifdef PYRL_WITH_CUDA
TORCH_LIBRARY_IMPL(pyrl, CUDA, m) {
  m.impl("lngru_forward", &forward_kernel<&lngru_forward_cuda>);
  m.impl("lngru_backward", &backward_kernel<&lngru_backward_cuda>);
}
#endif

// The sequence op: its autograd here, and below autograd the forward through the dispatcher
// (so on any device that has a forward kernel, and on fake tensors).
TORCH_LIBRARY_IMPL(pyrl, Autograd, m) { m.impl("lngru_sequence", &lngru_sequence_autograd); }
TORCH_LIBRARY_IMPL(pyrl, CompositeExplicitAutograd, m) {
  m.impl("lngru_sequence", &lngru_sequence_forward_only);
}

}  // namespace pyrl
