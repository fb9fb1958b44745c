import pytest
from click.testing import CliRunner

from lngru_cases import cpu_capabilities, cpu_capability


@pytest.fixture(params=cpu_capabilities())
def capability(request):
    """Each instruction set of the CPU kernels in turn (baseline; AVX, AVX2+FMA on x86-64)."""
    with cpu_capability(request.param):
        yield request.param


@pytest.fixture
def runner(monkeypatch):
    """A CliRunner with plain, fixed-width output (as CLI tests here check text)."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "160")
    return CliRunner()
