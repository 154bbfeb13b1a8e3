"""The test suite; helpers live in ``tests.support`` and shared fixtures in ``conftest.py``."""
