"""stream_colorize: colorize black-and-white video in real time.

>>> from stream_colorize import Colorizer, resolve_model
>>> engine = Colorizer(resolve_model("default"))
>>> colour = engine.colorize([gray_frame])[0]
"""

from .engine import Colorizer
from .errors import ColorizeError
from .models import ModelSpec, resolve_model

__version__ = "0.1.0"
__all__ = ["ColorizeError", "Colorizer", "ModelSpec", "__version__", "resolve_model"]
