// The training update of a worker as three calls over parameter lists (CPU): the shared
// optimizer step, gradient clipping, and the refresh of the local copy. csrc/optim.cpp.
// Each list entry is one contiguous float32 or float64 tensor; entry i of every list is the
// same parameter. References: pyrl.ops.optim_step_reference, clip_grad_norm_reference,
// refresh_reference.
#pragma once
#include <torch/extension.h>

#include <vector>

namespace pyrl {

// One lock-free Adam (kind "adam") or RMSProp ("rmsprop") step of params from grads with the
// shared statistics exp_avg (Adam's m; empty for RMSProp) and sq_avg (v), in the order of
// pyrl.train.optim.SharedOptimizer: m read before v, v written before m, the step taken with
// this call's own (m, v); |m| clamped to m_bound * sqrt(v) when m_bound >= 0 (negative: no
// clamp). step_count [1] float64 is incremented first; its new value is t of the bias
// corrections.
void optim_step(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
                const std::vector<at::Tensor>& exp_avg, const std::vector<at::Tensor>& sq_avg,
                const at::Tensor& step_count, const std::string& kind, double lr, double beta1,
                double beta2, double alpha, double eps, double m_bound);

// Tests only: one Adam step of one float64 parameter (t the step count), held before each of
// its accesses to the shared moments until order[*turn] == who and moving *turn on after
// it: two processes sharing exp_avg, sq_avg and turn run the compiled step's accesses in
// exactly the given order. The same code as optim_step's Adam (csrc/optim.cpp adam_tensor).
void optim_step_held(const at::Tensor& param, const at::Tensor& grad, const at::Tensor& exp_avg,
                     const at::Tensor& sq_avg, double t, double lr, double beta1, double beta2,
                     double eps, double m_bound, const at::Tensor& order, const at::Tensor& turn,
                     int64_t who);

// torch.nn.utils.clip_grad_norm_ (2-norm): the total norm of grads (summed in float64),
// and grads scaled in place by max_norm / (norm + 1e-6) where that is below 1. A non-finite
// norm leaves grads as they are (the caller stops the learner on it).
double clip_grad_norm(const std::vector<at::Tensor>& grads, double max_norm);

// dst[i] <- src[i] for every i (the worker's local copy <- the shared model), then the index
// of the first dst entry with a non-finite element, or -1. Each src element is read once.
int64_t refresh(const std::vector<at::Tensor>& dst, const std::vector<at::Tensor>& src);

}  // namespace pyrl
