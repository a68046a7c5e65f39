"""Preemption-safe training: stop on a signal with a checkpoint of the exact state, resume to the same weights.

Modules, in the order a run meets them:

- :mod:`.config`: :func:`make_preemptible`, the config switch ``tools/train.py`` applies.
- :mod:`.runner`: :class:`PreemptibleRunner`, atomic checkpoint writes and a checked ``--resume``.
- :mod:`.files`: checkpoint files a kill cannot corrupt, reading them with one clear error.
- :mod:`.loops`: mmengine's train loops with stop points and an exact resume position.
- :mod:`.hook`: :class:`PreemptionHook`, signals, rolling ``latest.pth`` and the stop.
- :mod:`.contract`: what loop and hook agree on (protocols, stop signals, exit code).
- :mod:`.state`: :class:`ResumeState`, the one record a checkpoint carries for resuming.
- :mod:`.data`: samples regenerated exactly from any batch; workers that ignore the cluster's signals.
- :mod:`.random_state`: the generators' state as plain data, and per-sample seeds.
"""

from .config import PREEMPTION_KEY, make_preemptible
from .contract import PREEMPTED_EXIT, STOP_SIGNALS, ResumableLoop, StopPoints, TrainingPreempted
from .data import ResumableBatchSampler, SeededDataset
from .hook import PreemptionHook
from .loops import PreemptibleEpochBasedTrainLoop, PreemptibleIterBasedTrainLoop
from .runner import PreemptibleRunner
from .state import ResumeError, ResumeState

__all__ = [
    'PREEMPTED_EXIT',
    'PREEMPTION_KEY',
    'STOP_SIGNALS',
    'PreemptibleEpochBasedTrainLoop',
    'PreemptibleIterBasedTrainLoop',
    'PreemptibleRunner',
    'PreemptionHook',
    'ResumableBatchSampler',
    'ResumableLoop',
    'ResumeError',
    'ResumeState',
    'SeededDataset',
    'StopPoints',
    'TrainingPreempted',
    'make_preemptible',
]
