"""Benchmarks behind ``pyrl bench``: each module has ``run(...) -> dict`` and ``render``."""
