// What the CPU kernels need from the compiler, behind macros, so that every build compiles:
// GCC and clang (Linux, macOS, musl) and MSVC. Plain C++, no torch (the activations header,
// which a test compiles alone, includes it).
//
// Instruction sets: on x86-64 with GCC or clang, the hot loops are compiled three times,
// for the baseline (SSE2), AVX and AVX2 (+FMA where results may differ by rounding), as
// functions with a target attribute, and one is picked at run time by the process-wide
// switch of cpu_isa.h (the best the CPU has, unless set): no ifunc, so musl and macOS get
// the same sets as glibc, and tests can run each. Elsewhere (aarch64, MSVC) one set: the
// build's baseline (NEON on aarch64).
#pragma once

#if defined(_MSC_VER) && !defined(__clang__)
#define PYRL_ALWAYS_INLINE __forceinline
#elif defined(__GNUC__) || defined(__clang__)
#define PYRL_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define PYRL_ALWAYS_INLINE inline
#endif

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define PYRL_X86_SETS 1
#define PYRL_TARGET_AVX __attribute__((target("avx")))
#define PYRL_TARGET_AVX2 __attribute__((target("avx2")))
#define PYRL_TARGET_AVX2_FMA __attribute__((target("avx2,fma")))
#else
#define PYRL_X86_SETS 0
#endif
