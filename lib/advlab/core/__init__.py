"""The core: MNIST, the seed CNN, training, batched inference and the attacks (imports no other layer)."""
