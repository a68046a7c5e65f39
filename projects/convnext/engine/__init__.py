"""Engine parts of the ``convnext`` scope: optimizer constructors and model wrappers."""

from .model_wrappers import CPUDistributedDataParallel
from .optimizers import LayerDecayOptimWrapperConstructor

__all__ = ['CPUDistributedDataParallel', 'LayerDecayOptimWrapperConstructor']
