"""The seed's CNN (as the seed blog post describes it): three 2x2 convolutions with 2x2 max-pooling,
three dense layers with BatchNorm and dropout. Inputs are pixels in [0, 1]; the model scales them
itself to unit standard deviation (dividing by MNIST's 0.3081), so an attack perturbs and clamps in
pixel space. There is no mean shift: a blank pixel stays exactly 0, which keeps max-pooling ties
exact, so the gradient, and FGSM, do not depend on how a batch is split."""

from __future__ import annotations

import torch
from torch import nn

MNIST_STD = 0.3081
ARCH = "BaselineCNN-v2"  # part of every cache key: bump it when the model's function changes


class BaselineCNN(nn.Module):
    """The seed's baseline model, about 116k parameters at ``width=1``.

    ``width`` multiplies every channel and hidden-unit count (for capacity experiments).

    Some implementation details make it more than twice as fast on a CPU and change no prediction:
    max-pooling runs before the ReLU (they commute: the max of ReLUs is the ReLU of the max, so the
    outputs are identical, with 4x fewer ReLUs); each convolution skips the last row and column that
    the floor-mode pooling after it would drop anyway (28 -> 27 and 6 -> 5 input pixels); without
    autograd, pooling is four strided maxima (same values); and the convolution weights are stored
    channels-last, the layout oneDNN's CPU kernels prefer (floating-point results agree to ~1e-6).
    ``fast=False`` builds the literal Conv -> ReLU -> Pool order in the default layout (the benchmark's
    "plain eager" reference). Both variants share the same parameter names, so checkpoints fit either.
    """

    def __init__(self, width: int = 1, num_classes: int = 10, fast: bool = True):
        super().__init__()
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        c1, c2, c3, h1, h2 = (w * width for w in (32, 64, 128, 128, 64))
        self.width = width
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 28 -> 27 -> 13
            nn.Conv2d(c1, c2, kernel_size=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 13 -> 12 -> 6
            nn.Conv2d(c2, c3, kernel_size=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 6 -> 5 -> 2
        )
        if fast:  # same modules, ReLU and MaxPool swapped (see the class docstring)
            f = self.features
            self.features = nn.Sequential(f[0], MaxPool2x2(), f[1], f[3], MaxPool2x2(), f[4], f[6], MaxPool2x2(), f[7])
            self.to(memory_format=torch.channels_last)
        self.fast = fast
        self.classifier = nn.Sequential(
            nn.Flatten(),  # c3 * 2 * 2
            nn.Linear(c3 * 4, h1),
            nn.BatchNorm1d(h1),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(h1, h2),
            nn.BatchNorm1d(h2),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(h2, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for pixels ``x`` in [0, 1], shape [N, 1, 28, 28]."""
        if not self.fast:
            return self.classifier(self.features(x / MNIST_STD))
        f = self.features
        x = x[..., : _kept(x, -2), : _kept(x, -1)] / MNIST_STD
        for i in (0, 3, 6):  # conv -> pool -> ReLU, on the rows and columns the pooling keeps
            x = f[i + 2](f[i + 1](f[i](x[..., : _kept(x, -2), : _kept(x, -1)])))
        return self.classifier(x)


def _kept(x: torch.Tensor, dim: int) -> int:
    """Input size a 2x2 convolution needs for the floor-mode 2x2 pooling after it to see everything."""
    return (x.shape[dim] - 1) // 2 * 2 + 1


class MaxPool2x2(nn.MaxPool2d):
    """2x2 max-pooling (stride 2, floor mode). Without autograd it takes the maximum of four strided
    views, which gives the same values as ``max_pool2d`` without computing its argmax indices."""

    def __init__(self):
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return super().forward(x)
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
        return torch.maximum(
            torch.maximum(x[..., 0:h:2, 0:w:2], x[..., 1:h:2, 0:w:2]),
            torch.maximum(x[..., 0:h:2, 1:w:2], x[..., 1:h:2, 1:w:2]),
        )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
