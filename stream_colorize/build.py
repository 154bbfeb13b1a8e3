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
    the stages overlap instead of the model's threads waiting for the encoder's.  Measured again
    for issue 25 (10 s 720p film, 2 rounds each, a shared 2-core machine), per backend:

    - ONNX Runtime, int8: 1 thread 0.90-0.92x at skip 1, 2 threads 0.96-1.05x, x264 on 2 threads
      0.82-0.97x, batch 2 0.83-1.01x (all within the noise; 2 threads cost 1-4 CPU ms a frame
      more); fp32 at skip 2: 1 thread 1.00-1.08x, 2 threads 0.93-0.97x, batch 2 0.60-0.62x at skip 1.
    - cv2.dnn: 1 thread 0.38-0.53x at skip 1, 2 threads 0.43-0.49x, batch 4 0.35-0.50x (batch 4
      saves a fifth of the CPU, 68-73 against 87-93 ms a frame, but not wall time here).

    So the split stays: the model on all cores but one, x264 with its own thread count, batch 1;
    ``--threads``, ``--batch`` override.
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
