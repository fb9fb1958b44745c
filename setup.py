"""Builds the one compiled module, ``pyrl._C``.

A ``CppExtension`` by default; a ``CUDAExtension`` that adds ``csrc/cuda/*.cu``
when the installed torch has CUDA and nvcc is present. ``PYRL_CUDA=0|1`` overrides
the detection (1 fails loudly if CUDA cannot be built). Build against the installed
torch: ``pip install --no-build-isolation .``
"""
import glob
import os
import sys

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


def _extension():
    cpp = sorted(glob.glob("csrc/*.cpp"))
    # -fno-trapping-math lets the fused row loops vectorise (selects if-convert); it
    # changes no result, only assumes floating-point ops do not trap.
    # -fno-math-errno lets sqrt vectorise (the optimizer step); pyrl never reads errno.
    cxx_flags = ["-O3", "-std=c++17", "-fno-trapping-math", "-fno-math-errno"]
    if sys.platform != "win32":
        cxx_flags += ["-fopenmp"]
    link = ["-fopenmp"] if sys.platform != "win32" else []
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
