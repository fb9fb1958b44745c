// The one PYBIND11_MODULE of pyrl._C: a thin layer over the ops declared in pyrl.h and
// rollout.h. Long calls release the GIL (users call the ops from threads too).
#include "act.h"
#include "cpu_isa.h"
#include "portability.h"
#include "optim.h"
#include "pyrl.h"
#include "rollout.h"

namespace py = pybind11;

namespace {

// Dispatches on device so that Python sees one op whatever the build (the registered ops of
// csrc/registration.cpp have a kernel per device instead).
std::vector<at::Tensor> lngru_forward_any(
    const at::Tensor& x, const at::Tensor& h0, const at::Tensor& reset,
    const at::Tensor& weight_ih, const at::Tensor& weight_hh, const at::Tensor& bias_ih,
    const at::Tensor& bias_hh, const std::optional<at::Tensor>& gamma_ih,
    const std::optional<at::Tensor>& gamma_hh, double eps, const std::string& norm) {
  if (x.is_cuda()) {
#ifdef PYRL_WITH_CUDA
    return pyrl::lngru_forward_cuda(x, h0, reset, weight_ih, weight_hh, bias_ih, bias_hh,
                                    gamma_ih, gamma_hh, eps, norm);
#else
    TORCH_CHECK(false, "lngru: x is a CUDA tensor but pyrl._C was built without CUDA "
                       "(rebuild with PYRL_CUDA=1 on a machine with nvcc)");
#endif
  }
  return pyrl::lngru_forward(x, h0, reset, weight_ih, weight_hh, bias_ih, bias_hh,
                             gamma_ih, gamma_hh, eps, norm);
}

std::vector<at::Tensor> lngru_backward_any(
    const at::Tensor& grad_out, const at::Tensor& grad_hT, const at::Tensor& x,
    const at::Tensor& h0, const at::Tensor& reset, const at::Tensor& weight_ih,
    const at::Tensor& weight_hh, const at::Tensor& bias_hh,
    const std::optional<at::Tensor>& gamma_ih, const std::optional<at::Tensor>& gamma_hh,
    const at::Tensor& out, const at::Tensor& xhat, const at::Tensor& hhat,
    const at::Tensor& rstd, const at::Tensor& gates, const std::string& norm) {
  if (x.is_cuda()) {
#ifdef PYRL_WITH_CUDA
    return pyrl::lngru_backward_cuda(grad_out, grad_hT, x, h0, reset, weight_ih, weight_hh,
                                     bias_hh, gamma_ih, gamma_hh, out, xhat, hhat, rstd,
                                     gates, norm);
#else
    TORCH_CHECK(false, "lngru: CUDA tensors need pyrl._C built with CUDA");
#endif
  }
  return pyrl::lngru_backward(grad_out, grad_hT, x, h0, reset, weight_ih, weight_hh,
                              bias_hh, gamma_ih, gamma_hh, out, xhat, hhat, rstd, gates, norm);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "pyrl's compiled ops: fused LayerNorm-GRU, acting step, training update and rollout batching";
#ifdef PYRL_WITH_CUDA
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif

  // ---- fused GRU with LayerNorm / RMSNorm / no norm (pyrl/ops.py wraps these in autograd)
  m.def("lngru_forward", &lngru_forward_any, "norm-GRU sequence forward",
        py::arg("x"), py::arg("h0"), py::arg("reset"), py::arg("weight_ih"),
        py::arg("weight_hh"), py::arg("bias_ih"), py::arg("bias_hh"), py::arg("gamma_ih"),
        py::arg("gamma_hh"), py::arg("eps"), py::arg("norm"),
        py::call_guard<py::gil_scoped_release>());
  m.def("lngru_backward", &lngru_backward_any, "norm-GRU sequence backward through time",
        py::arg("grad_out"), py::arg("grad_hT"), py::arg("x"), py::arg("h0"),
        py::arg("reset"), py::arg("weight_ih"), py::arg("weight_hh"), py::arg("bias_hh"),
        py::arg("gamma_ih"), py::arg("gamma_hh"), py::arg("out"), py::arg("xhat"),
        py::arg("hhat"), py::arg("rstd"), py::arg("gates"), py::arg("norm"),
        py::call_guard<py::gil_scoped_release>());

  // how this build was made (tests check that a clang build is the one they test)
  py::dict build;
#if defined(__clang__)
  build["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  build["compiler"] = std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
  build["compiler"] = "msvc " + std::to_string(_MSC_VER);
#else
  build["compiler"] = "unknown";
#endif
#ifdef _OPENMP
  build["openmp"] = true;
#else
  build["openmp"] = false;
#endif
  build["x86_sets"] = bool(PYRL_X86_SETS);
  m.attr("build_info") = build;
  m.def("cpu_capabilities", &pyrl::cpu_capabilities,
        "instruction sets of the CPU kernels usable here: default, and avx, avx2 (AVX2+FMA) on x86-64");
  m.def("cpu_capability", &pyrl::cpu_capability, "the set in use (the best, unless set)");
  m.def("set_cpu_capability", &pyrl::set_cpu_capability,
        "every CPU kernel uses this set from now on, process-wide (tests and benchmarks)", py::arg("name"));
  m.def("lngru_cpu_blas", &pyrl::lngru_cpu_blas,
        "how the CPU op multiplies: direct (torch's sgemm_/dgemm_) or aten (at::mm)");
  m.def("set_lngru_cpu_blas", &pyrl::set_lngru_cpu_blas,
        "direct or aten from now on, process-wide (tests)", py::arg("name"));
  m.def("_cpu_blas_self_test", &pyrl::cpu_blas_self_test,
        "whether the direct path's 32-bit-integer self-test passes against torch's BLAS or a "
        "stand-in (lp64, ilp64, no-transpose)", py::arg("against"));

  // ---- the fused acting step of ActorCritic (csrc/act.cpp; pyrl/ops.py act_step wraps it)
  m.def("act_step", &pyrl::act_step, "one acting step: (action, value, logp, new state)",
        py::arg("obs"), py::arg("state"), py::arg("reset"), py::arg("noise"), py::arg("params"),
        py::arg("trunks"), py::arg("feature_norm"), py::arg("core_norm"), py::arg("feature_eps"),
        py::arg("core_eps"), py::call_guard<py::gil_scoped_release>());

  // ---- a worker's training update (csrc/optim.cpp; pyrl/ops.py wraps these)
  m.def("optim_step", &pyrl::optim_step, "one lock-free Adam/RMSProp step over parameter lists",
        py::arg("params"), py::arg("grads"), py::arg("exp_avg"), py::arg("sq_avg"),
        py::arg("step_count"), py::arg("kind"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
        py::arg("alpha"), py::arg("eps"), py::arg("m_bound"), py::call_guard<py::gil_scoped_release>());
  m.def("_optim_step_held", &pyrl::optim_step_held,
        "tests: the compiled Adam step of one float64 tensor, its shared-moment accesses held "
        "to a turn order shared between processes", py::arg("param"), py::arg("grad"),
        py::arg("exp_avg"), py::arg("sq_avg"), py::arg("t"), py::arg("lr"), py::arg("beta1"),
        py::arg("beta2"), py::arg("eps"), py::arg("m_bound"), py::arg("order"), py::arg("turn"),
        py::arg("who"), py::call_guard<py::gil_scoped_release>());
  m.def("clip_grad_norm", &pyrl::clip_grad_norm, "total 2-norm of grads, clipped in place to max_norm",
        py::arg("grads"), py::arg("max_norm"), py::call_guard<py::gil_scoped_release>());
  m.def("refresh", &pyrl::refresh, "dst <- src per entry; the first non-finite dst entry or -1",
        py::arg("dst"), py::arg("src"), py::call_guard<py::gil_scoped_release>());

  // ---- rollout batching (csrc/rollout.cpp)
  m.def("gae", &pyrl::gae, "GAE under next-step autoreset: (advantages, returns, valid)",
        py::arg("rewards"), py::arg("values"), py::arg("terminated"), py::arg("truncated"),
        py::arg("prev_done"), py::arg("gamma"), py::arg("lam"),
        py::call_guard<py::gil_scoped_release>());
  m.def("episode_stats", &pyrl::episode_stats,
        "completed episodes of a [T,N] chunk (env, step, return, length); updates the state",
        py::arg("rewards"), py::arg("terminated"), py::arg("truncated"), py::arg("prev_done"),
        py::arg("ep_return"), py::arg("ep_length"), py::arg("step_offset"),
        py::call_guard<py::gil_scoped_release>());
  m.def("rollout_masks", &pyrl::rollout_masks, "(reset_step, reset) masks of a [T,N] chunk",
        py::arg("terminated"), py::arg("truncated"), py::arg("prev_done"),
        py::arg("prev_reset_step"), py::call_guard<py::gil_scoped_release>());
}
