"""Building a run's parts from its settings: one builder per object, the same on every path.

    >>> engine = build_engine(settings.model)                               # live, image, eval
    >>> engine = build_engine(settings.model, threads=pipeline_model_threads())  # a file's default
    >>> temporal = build_temporal(settings.temporal)                        # skip, smoothing, cuts, smoother

The file pipeline, the cluster's workers, live, photos and eval all get their ``Colorizer`` and
``Temporal`` here, so ``--backend``, ``--device``, ``--threads`` and every temporal setting mean
the same on each.  The encoder needs no builder: the writer takes ``settings.encode`` as it is.
"""

from __future__ import annotations

import os

from .config import ModelSettings, TemporalSettings
from .engine import Colorizer
from .models.spec import ModelSpec
from .smoothers import SMOOTHERS, Smoother
from .temporal import Temporal


def pipeline_model_threads() -> int:
    """Threads for the model in the file pipeline: all cores but one, which decode, merge and encode share.

    On 2 cores (1 model thread) ``bench/pipeline.py --vs-ffmpeg`` measured 0.35x / 0.63x of
    ffmpeg's re-encode speed at skip 1 / 2, against 0.27x / 0.44x with the model on both cores:
    the stages overlap instead of the model's threads waiting for the encoder's.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def build_engine(model: ModelSettings, threads: int | None = None, spec: ModelSpec | None = None) -> Colorizer:
    """Load the model ``model`` names on the device and backend it asks for.

    ``threads`` is the caller's default for inference threads, used when ``model.threads`` is
    not set (None: the backend's own default, all cores).  ``spec`` stands in for the named model
    (a cluster worker elsewhere gets the model's files shipped to it).
    """
    return Colorizer(
        spec or model.name,
        device=model.device,
        temperature=model.temperature,
        threads=model.threads or threads,
        batch_size=model.batch,
        backend=model.backend,
        precision=model.precision,
    )


def build_temporal(temporal: TemporalSettings, smoother: Smoother | None = None) -> Temporal:
    """Frame skipping, smoothing and scene cuts as ``temporal`` asks.

    ``smoother`` is the part that eases ab between model runs; None: the one ``temporal.smoother``
    names (``"flow"``, the default: ``temporal.FlowSmoother``; ``"motion"``: ``AbSmoother``).  An
    auto skip (None) is 1 here: live adjusts its own.
    """
    chosen = smoother if smoother is not None else SMOOTHERS[temporal.smoother](temporal.smooth)
    return Temporal(skip=temporal.skip or 1, smooth=temporal.smooth, cut_threshold=temporal.scene_cut, smoother=chosen)
