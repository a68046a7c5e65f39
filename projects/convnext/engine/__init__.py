"""Engine parts of the ``convnext`` scope: optimizer constructors, model wrappers, and
preemption-safe training (runner, train loops, hook, resumable data)."""

from .data import ResumableBatchSampler, SeededDataset
from .hooks import PREEMPTED_EXIT, PreemptionHook, TrainingPreempted
from .loops import PreemptibleEpochBasedTrainLoop, PreemptibleIterBasedTrainLoop
from .model_wrappers import CPUDistributedDataParallel
from .optimizers import LayerDecayOptimWrapperConstructor
from .runner import PreemptibleRunner, ResumeError, make_preemptible

__all__ = [
    'PREEMPTED_EXIT',
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
