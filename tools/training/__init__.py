"""How the bundled model was made (not shipped in the wheel): harvesting photos and clips from
Debian packages and wheels (``sources``), packing the training and reserved sets (``dataset``), and
the one-shot training runs (``job``, ``lite_job``, ``gpu_job.sh``).  Run from the repository root:

    $ python -m tools.training.dataset build work/data
    $ python -m tools.training.lite_job --data work/data/train.npz --eval work/data/eval.npz --out work/lite
"""
