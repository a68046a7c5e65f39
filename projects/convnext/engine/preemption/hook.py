"""Stop on a signal with a checkpoint of the exact state, and keep a rolling ``latest`` checkpoint.

Clusters preempt jobs with SIGTERM (SLURM sends it before SIGKILL, torchrun
forwards it). :class:`PreemptionHook` turns SIGTERM, SIGINT and SIGUSR1 into a
clean stop: the current iteration finishes, all ranks agree on where to stop,
rank 0 writes ``latest.pth`` (with every rank's random state and the data
position: the loop's :class:`~.state.ResumeState`) and ``last_checkpoint``, and
every rank exits with :data:`~.contract.PREEMPTED_EXIT`.
``tools/train.py CONFIG --resume`` then continues to exactly the weights of an
uninterrupted run. The same checkpoint is written every ``interval``
iterations or ``minutes`` minutes, so a SIGKILL loses at most that much work.
Validation runs with the generators' state preserved, so where a run was
stopped or how often it validates does not change its training.
"""

import contextlib
import logging
import os.path as osp
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

import torch
from mmengine.dist import all_reduce, barrier, get_world_size, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from ...registry import HOOKS
from .contract import PREEMPTED_EXIT, STOP_SIGNALS, ResumableLoop, TrainingPreempted
from .files import LAST_CHECKPOINT, remove_partial_files, write_errors, write_last_checkpoint
from .random_state import preserved_random_state
from .state import EPOCH_START, IN_EPOCH, RESUME_STATE_KEY, Phase, ResumeState

DEFAULT_MINUTES = 30.0
"""Default period of the rolling checkpoint, in minutes of training."""

PRIORITY = 85
"""After ``ParamSchedulerHook`` (LOW, 70) has stepped, before ``CheckpointHook`` (VERY_LOW, 90) saves."""

SECONDS_PER_MINUTE = 60.0


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Saves an exact-state checkpoint on a stop signal (then exits) and every ``interval``/``minutes``.

    The train loop must be a :class:`~.contract.ResumableLoop` (the preemptible
    loops of :mod:`~convnext.engine.preemption.loops` are): the hook attaches
    itself in ``before_train`` and the loop calls :meth:`stop_point`; with
    another loop the signals keep their default behaviour. ``tools/train.py``
    adds this hook to every config; set its arguments with
    ``--cfg-options preemption.interval=2000`` (or ``preemption.minutes=10``,
    ``preemption.enable=False``).

    Args:
        interval: Save the rolling checkpoint every this many iterations; None
            for none by count. Defaults to None.
        minutes: Save it when this many minutes have passed since the last one
            (rank 0's clock); None for none by time. Defaults to 30.
        filename: Name of the rolling checkpoint in the work dir. Defaults to
            ``'latest.pth'``.
        signals: Names of the signals that stop the run. Defaults to
            ``('SIGTERM', 'SIGINT', 'SIGUSR1')``. A second SIGINT aborts at once.
    """

    priority = PRIORITY

    def __init__(
        self,
        interval: int | None = None,
        minutes: float | None = DEFAULT_MINUTES,
        filename: str = 'latest.pth',
        signals: Sequence[str] = STOP_SIGNALS,
    ) -> None:
        if interval is not None and (not isinstance(interval, int) or interval < 1):
            raise ValueError(f'preemption.interval must be a positive number of iterations or None, got {interval!r}')
        if minutes is not None and minutes <= 0:
            raise ValueError(f'preemption.minutes must be positive or None, got {minutes!r}')
        unknown = [name for name in signals if not isinstance(getattr(signal, str(name), None), signal.Signals)]
        if unknown:
            raise ValueError(f'preemption.signals: unknown signal names {unknown}; expected e.g. {list(STOP_SIGNALS)}')
        self.interval = interval
        self.minutes = minutes
        self.filename = filename
        self.signals = tuple(signals)
        self._requested: int | None = None
        self._requested_at = 0.0
        self._previous: dict[int, Any] = {}
        self._stash: ResumeState | None = None
        self._loop: ResumableLoop | None = None
        self._validation = contextlib.ExitStack()
        self._last_save = time.monotonic()

    def before_train(self, runner: Any) -> None:
        """Removes partial files of killed writes, starts the rolling-checkpoint clock, attaches to the train
        loop and installs the signal handlers (main thread only)."""
        if is_main_process():
            removed = remove_partial_files(runner.work_dir)
            if removed:
                runner.logger.warning(f'Removed {len(removed)} partial file(s) of a killed checkpoint write: {removed}')
        self._last_save = time.monotonic()
        if not isinstance(runner.train_loop, ResumableLoop):
            runner.logger.warning(
                f'{type(runner.train_loop).__name__} has no stop points: stop signals keep their default action '
                '(use EpochBasedTrainLoop or IterBasedTrainLoop to stop and resume exactly)'
            )
            return
        self._loop = runner.train_loop
        self._loop.attach(self)
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('Training runs outside the main thread: stop signals keep their default action')
            return
        for name in self.signals:
            signum = getattr(signal, name)
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def after_train(self, runner: Any) -> None:
        """Puts the previous signal handlers back and detaches from the train loop."""
        self._restore_handlers()
        if self._loop is not None:
            self._loop.attach(None)
            self._loop = None

    def before_val(self, runner: Any) -> None:
        """Saves the generators' state: validation must not draw from the training random stream."""
        self._validation.enter_context(preserved_random_state())

    def after_val(self, runner: Any) -> None:
        """Restores the generators' state saved by :meth:`before_val`."""
        self._validation.close()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._requested is not None and signum == signal.SIGINT:
            self._restore_handlers()
            raise KeyboardInterrupt
        if self._requested is None:
            self._requested, self._requested_at = signum, time.monotonic()

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def stop_point(self, runner: Any, loop: ResumableLoop, phase: Phase) -> None:
        """Called by the loop where it can stop: saves if due, and stops if any rank got a signal.

        Args:
            runner: The runner.
            loop: The train loop.
            phase: ``'in_epoch'`` after an iteration, ``'epoch_start'`` between epochs.

        Raises:
            TrainingPreempted: On every rank, after the checkpoint is written.
        """
        if phase == IN_EPOCH and runner.iter % getattr(runner.optim_wrapper, '_accumulative_counts', 1):
            return  # gradients of a partial accumulation are not in checkpoints
        stop, due = self._agree(phase == IN_EPOCH and self._latest_due(runner))
        if not (stop or due):
            return
        path = self._save(runner, loop, phase)
        if stop:
            barrier()  # no rank exits (and makes srun --kill-on-bad-exit kill rank 0) while rank 0 still writes
            self._stop(runner, path)

    def _latest_due(self, runner: Any) -> bool:
        if self.interval is not None and runner.iter % self.interval == 0:
            return True
        elapsed = time.monotonic() - self._last_save
        return self.minutes is not None and is_main_process() and elapsed >= self.minutes * SECONDS_PER_MINUTE

    def _agree(self, due: bool) -> tuple[bool, bool]:
        """``(stop, save)`` as agreed by all ranks: any rank's signal stops all, rank 0's clock saves all."""
        flags = torch.tensor([self._requested is not None, due], dtype=torch.int32)
        if get_world_size() > 1:
            all_reduce(flags, op='max')
        return bool(flags[0]), bool(flags[1])

    def _save(self, runner: Any, loop: ResumableLoop, phase: Phase) -> str:
        """Writes the rolling checkpoint of the current state on rank 0 (all ranks call it); returns its path."""
        self._stash = loop.snapshot(phase)
        runner.save_checkpoint(runner.work_dir, self.filename, meta=dict(epoch=runner.epoch, iter=runner.iter))
        path = osp.join(runner.work_dir, self.filename)
        if is_main_process():
            with write_errors(runner.work_dir, f'{osp.basename(path)} into {LAST_CHECKPOINT}'):
                write_last_checkpoint(runner.work_dir, path)
        self._stash = None
        self._last_save = time.monotonic()
        return path

    def _stop(self, runner: Any, path: str) -> None:
        if self._requested is not None:
            cause = f'{signal.Signals(self._requested).name} ({time.monotonic() - self._requested_at:.2f} s ago)'
        else:
            cause = 'a stop signal to another rank'
        runner.logger.warning(
            f'Stopped by {cause} after {runner.iter} iterations: saved {path}; exit code {PREEMPTED_EXIT}. '
            'Continue with the same command and --resume.'
        )
        self._restore_handlers()
        raise TrainingPreempted(path)

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        """Drops a captured state: training is about to change."""
        self._stash = None

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        """Captures the state for an iteration checkpoint that ``CheckpointHook`` is about to save."""
        if self._loop is not None and _checkpoint_hook_saves(runner, by_epoch=False):
            self._stash = self._loop.snapshot(IN_EPOCH)

    def after_train_epoch(self, runner: Any) -> None:
        """Captures the state for the epoch checkpoint ``CheckpointHook`` is about to save."""
        if isinstance(self._loop, EpochBasedTrainLoop) and _checkpoint_hook_saves(runner, by_epoch=True):
            self._stash = self._loop.snapshot(EPOCH_START)

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Adds the captured state to the checkpoint (rank 0), as its ``resume_state``."""
        if self._stash is not None:
            checkpoint[RESUME_STATE_KEY] = self._stash.to_dict()

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Hands a resumed checkpoint's :class:`~.state.ResumeState` to the train loop.

        Raises:
            ResumeError: The checkpoint's record cannot be read (another version, missing fields).
        """
        if not runner._resume:  # mmengine's flag (EMAHook reads it too): load_from only loads weights
            return
        state = ResumeState.from_checkpoint(checkpoint)
        loop = runner.train_loop
        if state is None or not isinstance(loop, ResumableLoop):
            print_log(
                f'The checkpoint has no {RESUME_STATE_KEY} (or the loop cannot use it): the data position and the '
                'random state are not restored, so the resumed run will not match an uninterrupted one.',
                logger='current',
                level=logging.WARNING,
            )
            return
        loop.resume_from(state)


def _checkpoint_hook_saves(runner: Any, by_epoch: bool) -> bool:
    """Whether a ``CheckpointHook`` of the runner saves in this ``after_train_epoch`` (or ``_iter``)."""
    for hook in runner.hooks:
        if not isinstance(hook, CheckpointHook) or hook.by_epoch != by_epoch:
            continue
        if by_epoch:
            due = hook.every_n_epochs(runner, hook.interval, hook.save_begin)
            last = hook.is_last_train_epoch(runner)
        else:
            due = hook.every_n_train_iters(runner, hook.interval, hook.save_begin)
            last = hook.is_last_train_iter(runner)
        if due or (hook.save_last and last):
            return True
    return False
