import pytest
from click.testing import CliRunner


@pytest.fixture
def runner(monkeypatch):
    """A CliRunner with plain, fixed-width output (as CLI tests here check text)."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "160")
    return CliRunner()
