"""pyrl: lock-free Hogwild A3C vs independent learners, measured well.

Heavy modules (torch, envpool) are imported by the submodules that need them, so that
``import pyrl`` and ``pyrl --help`` stay instant.
"""
__version__ = "0.1.0"
