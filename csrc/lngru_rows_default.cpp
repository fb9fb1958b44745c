// The CPU norm-GRU's row passes for the baseline instruction set of the build (lngru_rows.h;
// on x86-64, SSE2: 4 floats per vector). Used where the CPU lacks AVX2 and FMA.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "lngru_activations.h"
#include "lngru_cpu.h"

#define PYRL_CPU_CAPABILITY cpu_default
#include "lngru_rows.h"
