"""Hooks of the ``convnext`` scope (the preemption hook is in :mod:`convnext.engine.preemption`)."""

from .checkpoint import SafeCheckpointHook

__all__ = ['SafeCheckpointHook']
