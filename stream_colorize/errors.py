"""Domain exceptions.  Each carries a message meant for the user: one line, what is wrong and
what to do.  The CLI prints it and exits non-zero; library callers can catch by type.
"""


class ColorizeError(Exception):
    """Base class for every error this package raises on purpose."""


class ModelError(ColorizeError):
    """A model cannot be found, fetched, verified or loaded."""


class DeviceError(ColorizeError):
    """A requested compute device cannot be used."""


class MediaError(ColorizeError):
    """An input cannot be opened or decoded, or an output cannot be written."""


class UsageError(ColorizeError):
    """The request itself is inconsistent (bad option values, output equal to input, ...)."""
