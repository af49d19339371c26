"""L-inf adversarial attacks: FGSM, an FGSM epsilon sweep that reuses one gradient, PGD, and APGD
(Croce & Hein 2020, the core of AutoAttack). One module per attack family over a shared runner (``base``).

Every attack
- runs the model in eval mode (BatchNorm statistics frozen, no dropout) and restores the caller's mode;
- takes the gradient with respect to the input only, leaving no gradient on the model's parameters;
- keeps pixels in [0, 1] and the perturbation within ``eps`` in the L-inf norm;
- works in batches (by default 1000 images; 256 on a CPU where advlab.core.allocator's setting is not in
  effect: `advlab.core.inference.default_batch`), on the model's device (CPU, CUDA or MPS), returning
  results on x's device;
- works whatever the caller's grad mode (it enables gradients for its own computation, also inside
  ``torch.no_grad()``); under ``torch.inference_mode()``, where no gradient can exist, it raises.
"""

from advlab.core.attacks.apgd import APGD_MOMENTUM, APGD_RHO, apgd, apgd_checkpoints
from advlab.core.attacks.base import check_eps, project, run_batches, step_size
from advlab.core.attacks.fgsm import fgsm, fgsm_signs, fgsm_sweep, fgsm_sweep_predictions
from advlab.core.attacks.losses import LOSSES, input_gradient, per_sample_loss, targeted_dlr
from advlab.core.attacks.pgd import pgd

_check_eps = check_eps  # also importable under its private name

__all__ = [
    "APGD_MOMENTUM",
    "APGD_RHO",
    "LOSSES",
    "apgd",
    "apgd_checkpoints",
    "check_eps",
    "fgsm",
    "fgsm_signs",
    "fgsm_sweep",
    "fgsm_sweep_predictions",
    "input_gradient",
    "per_sample_loss",
    "pgd",
    "project",
    "run_batches",
    "step_size",
    "targeted_dlr",
]
