// The process-wide choice of instruction set for the CPU kernels (csrc/portability.h):
// "default" (the build's baseline), "avx", "avx2" (AVX2 + FMA). The best this CPU and build
// have, unless a test or benchmark sets another. Defined in lngru.cpp.
#pragma once
#include <string>
#include <vector>

namespace pyrl {

enum class CpuIsa : int { kDefault = 0, kAvx = 1, kAvx2 = 2 };

CpuIsa cpu_isa();                               // in use (read on every op call: one load)
std::vector<std::string> cpu_capabilities();    // usable here, baseline first
std::string cpu_capability();                   // the name of the one in use
void set_cpu_capability(const std::string& name);

}  // namespace pyrl
