// Input checks shared by the CPU (csrc/lngru.cpp) and CUDA (csrc/cuda/lngru_cuda.cpp) LN-GRU
// ops: one set of messages, each naming the argument. Device-specific checks (which device
// the op runs on) stay with each op.
#pragma once
#include <torch/extension.h>

#include <optional>
#include <string>

#include "lngru_norm.h"

namespace pyrl {
namespace lngru_checks {

struct Dims {
  int64_t T, B, I, H;
};

inline void check_arg(const at::Tensor& t, const char* name, at::IntArrayRef shape, const at::Tensor& like) {
  TORCH_CHECK(t.defined(), "lngru: ", name, " is undefined");
  TORCH_CHECK(t.dim() == static_cast<int64_t>(shape.size()), "lngru: ", name, " must have ",
              shape.size(), " dimensions ", shape, ", got shape ", t.sizes());
  TORCH_CHECK(t.sizes() == shape, "lngru: ", name, " must have shape ", shape, ", got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), "lngru: ", name, " has dtype ",
              t.scalar_type(), " but x has ", like.scalar_type(), " (all floating inputs must match)");
  TORCH_CHECK(t.device() == like.device(), "lngru: ", name, " is on ", t.device(), " but x is on ",
              like.device());
  TORCH_CHECK(t.is_contiguous(), "lngru: ", name, " must be contiguous (call .contiguous())");
}

// The norm's name as Python spells it: "none", "layernorm" or "rmsnorm".
inline Norm parse_norm(const std::string& name) {
  if (name == "none") return Norm::kNone;
  if (name == "layernorm") return Norm::kLayer;
  TORCH_CHECK(name == "rmsnorm", "lngru: norm must be \"none\", \"layernorm\" or \"rmsnorm\", got \"",
              name, "\"");
  return Norm::kRms;
}

inline Dims check_inputs(const at::Tensor& x, const at::Tensor& h0, const at::Tensor& reset,
                  const at::Tensor& weight_ih, const at::Tensor& weight_hh,
                  const at::Tensor& bias_hh, const std::optional<at::Tensor>& gamma_ih,
                  const std::optional<at::Tensor>& gamma_hh, const at::Tensor* bias_ih,
                  Norm norm) {
  TORCH_CHECK(x.defined() && x.dim() == 3, "lngru: x must have 3 dimensions [T,B,I], got shape ",
              x.defined() ? x.sizes() : at::IntArrayRef{});
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "lngru: x must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(x.is_contiguous(), "lngru: x must be contiguous (call .contiguous())");
  TORCH_CHECK(h0.defined() && h0.dim() == 2, "lngru: h0 must have 2 dimensions [B,H], got shape ",
              h0.defined() ? h0.sizes() : at::IntArrayRef{});
  const Dims d{x.size(0), x.size(1), x.size(2), h0.size(1)};
  TORCH_CHECK(d.T >= 1 && d.B >= 1 && d.I >= 1 && d.H >= 1,
              "lngru: sizes must be positive, got T=", d.T, " B=", d.B, " I=", d.I, " H=", d.H);
  check_arg(h0, "h0", {d.B, d.H}, x);
  TORCH_CHECK(reset.defined() && reset.scalar_type() == at::kBool, "lngru: reset must be a bool tensor");
  TORCH_CHECK(reset.dim() == 2 && reset.size(0) == d.T && reset.size(1) == d.B,
              "lngru: reset must have shape [T,B] = [", d.T, ", ", d.B, "], got ", reset.sizes());
  TORCH_CHECK(reset.device() == x.device(), "lngru: reset is on ", reset.device(), " but x is on ", x.device());
  TORCH_CHECK(reset.is_contiguous(), "lngru: reset must be contiguous (call .contiguous())");
  check_arg(weight_ih, "weight_ih", {3 * d.H, d.I}, x);
  check_arg(weight_hh, "weight_hh", {3 * d.H, d.H}, x);
  if (bias_ih != nullptr) check_arg(*bias_ih, "bias_ih", {3 * d.H}, x);
  check_arg(bias_hh, "bias_hh", {3 * d.H}, x);
  TORCH_CHECK(gamma_ih.has_value() == gamma_hh.has_value(),
              "lngru: give both gamma_ih and gamma_hh (the norm's gains) or neither (plain GRU)");
  TORCH_CHECK(norm != Norm::kNone || !gamma_ih.has_value(),
              "lngru: norm=\"none\" takes no gains, but gamma_ih and gamma_hh were given");
  TORCH_CHECK(norm == Norm::kNone || gamma_ih.has_value(), "lngru: norm=\"",
              norm == Norm::kLayer ? "layernorm" : "rmsnorm", "\" needs the gains gamma_ih and gamma_hh");
  if (gamma_ih.has_value()) {
    check_arg(*gamma_ih, "gamma_ih", {3 * d.H}, x);
    check_arg(*gamma_hh, "gamma_hh", {3 * d.H}, x);
  }
  return d;
}

}  // namespace lngru_checks
}  // namespace pyrl
