"""AdvLab: adversarial examples on MNIST, as a small library behind the course notebooks."""
from .allocator import keep_freed_memory

keep_freed_memory()  # before any tensor: fewer page faults per batch on a CPU (see advlab.allocator)

from .attacks import apgd, fgsm, fgsm_sweep, pgd
from .checkpoint import load_model, save_model
from .data import load_mnist
from .errors import AdvlabError
from .evaluation import evaluate, predict
from .models import BaselineCNN
from .training import fit

__version__ = "0.1.0"
__all__ = ["AdvlabError", "apgd", "BaselineCNN", "evaluate", "fgsm", "fgsm_sweep", "fit", "load_mnist",
           "load_model", "pgd", "predict", "save_model"]
