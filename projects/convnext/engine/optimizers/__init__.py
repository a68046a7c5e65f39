"""Optimizer wrapper constructors of the ``convnext`` scope."""

from .layer_decay import LayerDecayOptimWrapperConstructor, UngroupableBackboneError

__all__ = ['LayerDecayOptimWrapperConstructor', 'UngroupableBackboneError']
