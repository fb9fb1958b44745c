// The CPU norm-GRU's row passes compiled for AVX2 + FMA (lngru_rows.h): 8 floats per vector,
// so the activations, the bulk of a step's work outside the matrix products, cost half.
// Only what comes after the pragma is compiled for AVX2: the headers above it keep the
// baseline (see the rule at the top of lngru_rows.h). lngru.cpp uses this set only on a CPU
// that has both (rows_for_this_cpu()). Without GCC or clang on x86-64 it is the baseline code
// again (and never picked: cpu_capabilities() has no avx2 there).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "lngru_cpu.h"
#include "portability.h"

#if PYRL_X86_SETS && defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#elif PYRL_X86_SETS
#pragma GCC target("avx2,fma")
#endif
// After the pragma, so that its (internal-linkage) activations are compiled for AVX2 here.
#include "lngru_activations.h"

#define PYRL_CPU_CAPABILITY cpu_avx2
#include "lngru_rows.h"

#if PYRL_X86_SETS && defined(__clang__)
#pragma clang attribute pop
#endif
