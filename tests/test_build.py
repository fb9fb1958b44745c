"""How pyrl._C was built (issue 24): the compiler the run expects (scripts/clang-check sets
PYRL_EXPECT_COMPILER=clang and builds into build/clang), what the build has, and that it
exports its module entry point alone."""
import os
import shutil
import subprocess

import pytest

from pyrl import ops


def test_the_build_under_test_is_the_expected_one():
    info = ops._ext().build_info
    assert set(info) == {"compiler", "openmp", "x86_sets"}
    expected = os.environ.get("PYRL_EXPECT_COMPILER")
    if expected:
        assert info["compiler"].startswith(expected + " "), info
        assert os.sep + "build" + os.sep + expected + os.sep in ops._ext().__file__  # not the .venv's build


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs nm (binutils)")
def test_only_the_module_entry_point_is_exported():
    # hidden visibility (setup.py): pyrl's internals (pyrl::gemm, the kernels) are not symbols
    # another library could bind to or clash with
    out = subprocess.run(["nm", "-D", "--defined-only", ops._ext().__file__], capture_output=True, text=True,
                         check=True).stdout
    text = [line.split()[-1] for line in out.splitlines() if line.split()[1:2] == ["T"]]
    assert text == ["PyInit__C"], text
    assert "pyrl" not in out
