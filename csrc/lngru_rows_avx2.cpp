// The CPU norm-GRU's row passes compiled for AVX2 + FMA (lngru_rows.h): 8 floats per vector,
// so the activations, the bulk of a step's work outside the matrix products, cost half.
// Only what comes after the pragma is compiled for AVX2: the headers above it keep the
// baseline (see the rule at the top of lngru_rows.h). lngru.cpp uses this set only on a CPU
// that has both (rows_for_this_cpu()). Without GCC on x86 it is the baseline code again.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "lngru_cpu.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#pragma GCC target("avx2,fma")
#endif
// After the pragma, so that its (internal-linkage) activations are compiled for AVX2 here.
#include "lngru_activations.h"

#define PYRL_CPU_CAPABILITY cpu_avx2
#include "lngru_rows.h"
