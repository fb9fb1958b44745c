// The normalisation of the fused GRU's gate pre-activations: shared by the CPU op
// (csrc/lngru.cpp) and the CUDA kernels (csrc/cuda/), so plain C++ without torch.
#pragma once

namespace pyrl {

// Applied to x W_ih^T and to h W_hh^T, each over its whole 3H vector, without shift, then
// scaled by the gains gamma_ih / gamma_hh (eps inside the square root):
enum class Norm : int {
  kNone = 0,   // no norm and no gains: exactly nn.GRUCell
  kLayer = 1,  // LayerNorm: (v - mean(v)) / sqrt(mean((v - mean(v))^2) + eps)
  kRms = 2,    // RMSNorm:   v / sqrt(mean(v^2) + eps)
};

}  // namespace pyrl
