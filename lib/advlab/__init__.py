"""AdvLab: adversarial examples on MNIST, as a small library behind the course notebooks.

The package is layered; each layer imports only the ones above it in this list:

- ``advlab.core``: data, the model, training, batched inference and the attacks;
- ``advlab.evaluation``: robust evaluation, sanity checks and statistics;
- ``advlab.course``: profiles, the model registry and cached pipeline, the seed's claims, plots,
  widgets, exercises and the challenge;
- ``advlab.report``: the HTML report, laying out what the course computed;
- ``advlab.runtime``: the command line that runs the notebooks (``run_all.py``).
"""

from advlab.core.allocator import keep_freed_memory

keep_freed_memory()  # before any tensor: fewer page faults per batch on a CPU (see advlab.core.allocator)

from advlab.core.attacks import apgd, fgsm, fgsm_sweep, pgd  # noqa: E402
from advlab.core.checkpoint import load_model, save_model  # noqa: E402
from advlab.core.data import load_mnist  # noqa: E402
from advlab.core.errors import AdvlabError  # noqa: E402
from advlab.core.inference import evaluate, predict  # noqa: E402
from advlab.core.models import BaselineCNN  # noqa: E402
from advlab.core.training import fit  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "AdvlabError",
    "apgd",
    "BaselineCNN",
    "chapter",
    "evaluate",
    "fgsm",
    "fgsm_sweep",
    "fit",
    "load_mnist",
    "load_model",
    "pgd",
    "predict",
    "save_model",
]


def chapter(*args, **kwargs):
    """Set up a course chapter in one call: see :func:`advlab.course.chapter.chapter`."""
    # imported here: the course layer (plots, seaborn) is only loaded by notebooks that ask for it
    from advlab.course.chapter import chapter as set_up

    return set_up(*args, **kwargs)
