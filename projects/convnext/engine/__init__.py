"""Engine parts of the ``convnext`` scope: optimizer constructors, model wrappers, and preemption-safe
training (:mod:`.preemption`: runner, train loops, hook, resumable data)."""

from .model_wrappers import CPUDistributedDataParallel
from .optimizers import LayerDecayOptimWrapperConstructor
from .preemption import (
    PREEMPTED_EXIT,
    PREEMPTION_KEY,
    PreemptibleEpochBasedTrainLoop,
    PreemptibleIterBasedTrainLoop,
    PreemptibleRunner,
    PreemptionHook,
    ResumableBatchSampler,
    ResumeError,
    SeededDataset,
    TrainingPreempted,
    make_preemptible,
)

__all__ = [
    'PREEMPTED_EXIT',
    'PREEMPTION_KEY',
    'CPUDistributedDataParallel',
    'LayerDecayOptimWrapperConstructor',
    'PreemptibleEpochBasedTrainLoop',
    'PreemptibleIterBasedTrainLoop',
    'PreemptibleRunner',
    'PreemptionHook',
    'ResumableBatchSampler',
    'ResumeError',
    'SeededDataset',
    'TrainingPreempted',
    'make_preemptible',
]
