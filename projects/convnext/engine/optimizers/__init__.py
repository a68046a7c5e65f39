"""Optimizer wrapper constructors of the ``convnext`` scope."""

from .layer_decay import LayerDecayOptimWrapperConstructor

__all__ = ['LayerDecayOptimWrapperConstructor']
