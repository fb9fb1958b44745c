// The fused acting step of pyrl.nn.ActorCritic (vector observations, CPU): csrc/act.cpp.
// Shape letters: N envs, I input, H hidden, S state (0, H or 2H), A actions.
#pragma once
#include <torch/extension.h>

#include <optional>
#include <string>
#include <vector>

namespace pyrl {

// One env step of the acting policy, no autograd. `params` holds, per trunk (the actor's,
// then the critic's when trunks == 2), the 14 entries of pyrl.ops.ACT_TRUNK_FIELDS
//   weight1 [H,I], bias1 [H], weight2 [H,H], bias2 [H],
//   norm_weight [H], norm_bias [H], running_mean [H], running_var [H]   (as feature_norm needs)
//   weight_ih [3H,H], weight_hh [3H,H], bias_ih [3H], bias_hh [3H]     (all None: no core)
//   gamma_ih [3H], gamma_hh [3H]                                       (core_norm != "none")
// then the 5 of ACT_HEAD_FIELDS: policy_weight [A,H], policy_bias [A], log_std [A] (None:
// categorical), value_weight [1,H], value_bias [1]. noise is u [N,1] in [0,1) (categorical,
// inverse CDF) or eps [N,A] (Gaussian), drawn by the caller.
// Returns {action [N] int64 | [N,A], value [N], logp [N], new state [N,S]}.
std::vector<at::Tensor> act_step(
    const at::Tensor& obs,    // [N,I]
    const at::Tensor& state,  // [N,S]
    const at::Tensor& reset,  // [N] bool: zero the state first where set
    const at::Tensor& noise,  // [N,1] | [N,A]
    const std::vector<std::optional<at::Tensor>>& params,
    int64_t trunks,                    // 1 (shared) | 2 (separate critic)
    const std::string& feature_norm,   // "none" | "layernorm" | "rmsnorm" | "batchnorm"
    const std::string& core_norm,      // "none" | "layernorm" | "rmsnorm"
    double feature_eps, double core_eps);

}  // namespace pyrl
