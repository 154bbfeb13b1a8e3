"""Maintainers' scripts (outside the wheel): the bundled sample, contact sheets, training runs."""
