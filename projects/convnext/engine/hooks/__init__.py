"""Hooks of the ``convnext`` scope."""

from .checkpoint import SafeCheckpointHook
from .preemption import PREEMPTED_EXIT, PreemptionHook, TrainingPreempted

__all__ = ['PREEMPTED_EXIT', 'PreemptionHook', 'SafeCheckpointHook', 'TrainingPreempted']
