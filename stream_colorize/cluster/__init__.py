"""Long films in segments: across machines (Ray), in a local process pool, or resumably in-process.

    >>> from stream_colorize.cluster import ClusterOptions, run_job
    >>> result = run_job("film.mkv", Path("film_colour.mkv"), Settings(), ClusterOptions(workers=4))
    >>> result = run_job("film.mkv", out, Settings(), ClusterOptions(ray="auto"))   # extra [cluster]

``plan`` cuts the film at keyframes, ``task``/``worker`` turn one segment's compressed packets into
an encoded segment (with warm-up frames, as a closed GOP), ``executors``/``ray_executor`` run
workers, ``manifest`` keeps the job folder that makes runs resumable, ``join`` writes the film.
"""

from .job import LONG_FILM_SECONDS, ClusterOptions, JobProgress, run_job, wants_segments
from .manifest import job_dir_for
from .plan import DEFAULT_SEGMENT_SECONDS, DEFAULT_WARMUP, SegmentPlan, plan_segments, scan_video
from .worker import SegmentError, SegmentWorker

__all__ = [
    "DEFAULT_SEGMENT_SECONDS",
    "DEFAULT_WARMUP",
    "LONG_FILM_SECONDS",
    "ClusterOptions",
    "JobProgress",
    "SegmentError",
    "SegmentPlan",
    "SegmentWorker",
    "job_dir_for",
    "plan_segments",
    "run_job",
    "scan_video",
    "wants_segments",
]
