"""Builds the one compiled module, ``pyrl._C``.

A ``CppExtension`` by default; a ``CUDAExtension`` that adds ``csrc/cuda/*.cu``
when the installed torch has CUDA and nvcc is present. ``PYRL_CUDA=0|1`` overrides
the detection (1 fails loudly if CUDA cannot be built). Build against the installed
torch: ``pip install --no-build-isolation .``
"""
import glob
import os
import shlex
import subprocess
import sys
import tempfile

from setuptools import setup

import torch
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

HERE = os.path.dirname(os.path.abspath(__file__))


def _want_cuda() -> bool:
    flag = os.environ.get("PYRL_CUDA", "").strip()
    can = torch.version.cuda is not None and CUDA_HOME is not None
    if flag == "1":
        if not can:
            sys.exit("PYRL_CUDA=1 but torch has no CUDA or nvcc was not found (CUDA_HOME)")
        return True
    if flag == "0":
        return False
    return can


def _cxx() -> str:
    """The C++ compiler the build uses (torch's BuildExtension takes $CXX, else c++)."""
    return os.environ.get("CXX", "c++")


def _compiles(flags, source="int main() { return 0; }\n") -> bool:
    """Whether the compiler compiles and links `source` with `flags`."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.cpp")
        with open(src, "w") as f:
            f.write(source)
        cmd = [*shlex.split(_cxx()), *flags, src, "-o", os.path.join(tmp, "probe")]
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def _openmp_flags():
    """OpenMP where the compiler has it with its runtime (GCC; clang with libomp), else only
    its simd pragmas (-fopenmp-simd: the row loops still vectorise; at::parallel_for in the
    extension then runs serially), else nothing (Apple clang without libomp, old compilers)."""
    if _compiles(["-fopenmp"], "#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n"):
        return ["-fopenmp"], ["-fopenmp"]
    if _compiles(["-fopenmp-simd"]):
        return ["-fopenmp-simd"], []
    return [], []


def _flags():
    """(compile, link) flags by compiler. GCC and clang: -O3 without -march (the kernels carry
    their own instruction sets, csrc/portability.h); -fno-trapping-math lets the fused row
    loops vectorise (selects if-convert: it changes no result, only assumes floating-point ops
    do not trap); -fno-math-errno lets sqrt vectorise (pyrl never reads errno); hidden
    visibility exports only the module's entry point. MSVC: its own spellings, no OpenMP."""
    if sys.platform == "win32" and "clang" not in _cxx():
        return ["/O2", "/std:c++17", "/fp:precise"], []
    omp_compile, omp_link = _openmp_flags()
    compile_flags = ["-O3", "-std=c++17", "-fno-trapping-math", "-fno-math-errno",
                     "-fvisibility=hidden", "-fvisibility-inlines-hidden", *omp_compile]
    return compile_flags, omp_link


def _extension():
    cpp = sorted(glob.glob("csrc/*.cpp"))
    cxx_flags, link = _flags()
    cu = sorted(glob.glob("csrc/cuda/*.cu")) + sorted(glob.glob("csrc/cuda/*.cpp"))
    if _want_cuda() and not cu:
        print("pyrl: no CUDA sources in csrc/cuda yet; building the CPU extension", file=sys.stderr)
    if _want_cuda() and cu:
        return CUDAExtension(
            "pyrl._C",
            cpp + cu,
            include_dirs=[os.path.join(HERE, "csrc")],
            define_macros=[("PYRL_WITH_CUDA", "1")],
            extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3", "-std=c++17"]},
            extra_link_args=link,  # cuBLAS comes through torch (at::mm): no -lcublas
        )
    return CppExtension(
        "pyrl._C",
        cpp,
        include_dirs=[os.path.join(HERE, "csrc")],
        extra_compile_args={"cxx": cxx_flags},
        extra_link_args=link,
    )


setup(
    ext_modules=[_extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
