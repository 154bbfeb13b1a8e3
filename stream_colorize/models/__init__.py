"""Models: what a model file is (spec), named models (registry), the cache (store), conversion."""

from .resolve import resolve_model
from .spec import ModelSpec, spec_from_path

__all__ = ["ModelSpec", "resolve_model", "spec_from_path"]
