// Declarations of the rollout batching ops of pyrl._C (csrc/rollout.cpp); bindings.cpp binds
// them. CPU tensors. Shape letters: T time, N envs, K completed episodes.
//
// Autoreset (envpool, Gymnasium 1.x): an env resets on the step AFTER the one that ended its
// episode. That reset step ignores the action and returns reward 0 and the first observation
// of the next episode, so it is no learning sample. Step t is a reset step when step t-1 (the
// last step of the previous chunk for t = 0, carried in as prev_done) was terminated or
// truncated.
#pragma once
#include <torch/extension.h>

#include <cstdint>
#include <vector>

namespace pyrl {

// Generalised advantage estimation under next-step autoreset, one backward pass over t.
// A valid step bootstraps from values[t+1] unless terminated (at a truncated step that is
// the value of the final observation, which the step returned); the chain stops at every
// episode end. Reset steps get advantage 0, return = values[t], valid = false.
// lam = 1 gives the n-step returns of A3C. Computed in float64, returned in values' dtype.
// Returns {advantages[T,N], returns[T,N], valid[T,N] bool}.
std::vector<at::Tensor> gae(
    const at::Tensor& rewards,     // [T,N]   float32|float64, same dtype as values
    const at::Tensor& values,      // [T+1,N] float32|float64
    const at::Tensor& terminated,  // [T,N]   bool
    const at::Tensor& truncated,   // [T,N]   bool
    const at::Tensor& prev_done,   // [N]     bool: step -1 ended an episode
    double gamma, double lam);

// Episode statistics with the bookkeeping of gymnasium.wrappers.vector.RecordEpisodeStatistics
// under next-step autoreset: a reset step zeroes the running sums and is not counted; every
// other step adds its reward and 1 to the length; a terminated or truncated step completes an
// episode. The running state is updated in place (it carries across chunks).
// Returns the completed episodes in stream order (by step, then env):
// {env[K] int64, step[K] int64 (step_offset + t), return[K] float64, length[K] int64}.
std::vector<at::Tensor> episode_stats(
    const at::Tensor& rewards,     // [T,N] float32|float64
    const at::Tensor& terminated,  // [T,N] bool
    const at::Tensor& truncated,   // [T,N] bool
    at::Tensor& prev_done,         // [N] bool, in/out: on return the done flags of step T-1
    at::Tensor& ep_return,         // [N] float64, in/out: running return
    at::Tensor& ep_length,         // [N] int64, in/out: running length
    int64_t step_offset);

// The masks of a chunk, from its flags and the two carried in:
// reset_step[t] = step t is a reset step (done at t-1; prev_done for t = 0), i.e. not valid;
// reset[t]      = the recurrent state entering step t must be zeroed: step t is the first step
//                 of a new episode, i.e. step t-1 was a reset step (prev_reset_step for t = 0).
// (The reset step itself still runs on the old episode's state: it sees that episode's final
// observation, whose value a truncated step bootstraps from.)
// Returns {reset_step[T,N] bool, reset[T,N] bool}.
std::vector<at::Tensor> rollout_masks(
    const at::Tensor& terminated,       // [T,N] bool
    const at::Tensor& truncated,        // [T,N] bool
    const at::Tensor& prev_done,        // [N] bool: step -1 ended an episode
    const at::Tensor& prev_reset_step); // [N] bool: step -1 was a reset step

}  // namespace pyrl
