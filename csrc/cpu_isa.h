// The process-wide choice of instruction set for the CPU kernels (csrc/portability.h):
// "default" (the build's baseline), "avx", "avx2" (AVX2 + FMA). The best this CPU and build
// have, unless a test or benchmark sets another. Defined in lngru.cpp.
#pragma once
#include <string>
#include <vector>

#include "portability.h"

namespace pyrl {

enum class CpuIsa : int { kDefault = 0, kAvx = 1, kAvx2 = 2 };

CpuIsa cpu_isa();                               // in use (read on every op call: one load)
std::vector<std::string> cpu_capabilities();    // usable here, baseline first
std::string cpu_capability();                   // the name of the one in use
void set_cpu_capability(const std::string& name);

// PYRL_CPU_SETS(avx2_target, ret, name, (params), (args), body) defines name_default,
// name_avx (target avx) and name_avx2 (avx2_target: PYRL_TARGET_AVX2_FMA, or PYRL_TARGET_AVX2
// where results must not change with the set), each `return body args;`, and name(params),
// which calls the one cpu_isa() names. Without the x86 sets, name alone. Inside namespace pyrl.
#if PYRL_X86_SETS
#define PYRL_CPU_SETS(AVX2_TARGET, RET, NAME, PARAMS, ARGS, BODY) \
  RET NAME##_default PARAMS { return BODY ARGS; }                 \
  PYRL_TARGET_AVX RET NAME##_avx PARAMS { return BODY ARGS; }     \
  AVX2_TARGET RET NAME##_avx2 PARAMS { return BODY ARGS; }        \
  RET NAME PARAMS {                                               \
    switch (cpu_isa()) {                                          \
      case CpuIsa::kAvx2: return NAME##_avx2 ARGS;                \
      case CpuIsa::kAvx: return NAME##_avx ARGS;                  \
      default: return NAME##_default ARGS;                        \
    }                                                             \
  }
#else
#define PYRL_CPU_SETS(AVX2_TARGET, RET, NAME, PARAMS, ARGS, BODY) \
  RET NAME PARAMS { return BODY ARGS; }
#endif

}  // namespace pyrl
