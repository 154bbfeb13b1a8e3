"""Domain exceptions.  Each carries a message meant for the user: one line, what is wrong and
what to do.  The CLI prints it and exits non-zero; library callers can catch by type, or by the
built-in they also are where they mean the same thing (as PyAV's errors do):

    >>> try:
    ...     stream_colorize.colorize_file("missing.mp4", "out.mp4")
    ... except FileNotFoundError as exc:      # also a stream_colorize.InputNotFoundError
    ...     print(exc)                        # input not found: missing.mp4
"""


class ColorizeError(Exception):
    """Base class for every error this package raises on purpose."""


class ModelError(ColorizeError):
    """A model cannot be found, fetched, verified or loaded."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """A model file named by path does not exist."""


class DeviceError(ColorizeError):
    """A requested compute device cannot be used."""


class MediaError(ColorizeError):
    """An input cannot be opened or decoded, or an output cannot be written."""


class InputNotFoundError(MediaError, FileNotFoundError):
    """An input file or folder does not exist."""


class UsageError(ColorizeError, ValueError):
    """The request itself is inconsistent (bad option values, output equal to input, ...)."""
