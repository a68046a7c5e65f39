"""mmengine's epoch- and iteration-based train loops, made to stop and resume at any iteration.

Each loop:

- trains on the config's dataloader wrapped by
  :func:`~convnext.engine.preemption.data.resumable_dataloader_cfg`, so a
  resumed epoch skips the batches already trained (without loading them) and
  regenerates the remaining samples exactly;
- restores the random state of the :class:`~.state.ResumeState` it resumes
  from at the point where it was captured, and makes its data iterators
  without drawing from the training random stream (validation is kept out of
  it by :class:`~.hook.PreemptionHook`, around mmengine's ``before_val`` and
  ``after_val``);
- calls the :class:`~.contract.StopPoints` attached to it at every stop point:
  after each iteration (after its validation), and at each epoch boundary
  after validation.

Copied from mmengine 0.10.7 (``mmengine/runner/loops.py``), where no extension
point takes the change: the body of ``EpochBasedTrainLoop.run_epoch`` (a
resumed epoch starts at a later batch, which mmengine enumerates from 0) and
of ``IterBasedTrainLoop.run`` (mmengine loads and discards every trained batch
to resume, and has no point after an iteration's validation). The stop point
between epochs is taken at the start of every ``run_epoch`` but the run's
first, so ``EpochBasedTrainLoop.run`` is mmengine's own.
``tests/engine/preemption/test_loops.py`` checks that the copied statements
and the ``run`` they rely on still match the installed mmengine.
"""

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from mmengine.dist import get_rank, get_world_size
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from torch.utils.data import DataLoader

from ...registry import LOOPS
from .contract import StopPoints
from .data import ResumableBatchSampler, resumable_dataloader_cfg
from .random_state import gather_random_states, preserved_random_state, set_random_state
from .state import EPOCH_START, IN_EPOCH, Phase, ResumeState


class PreemptibleLoopMixin:
    """What the epoch- and iteration-based loops share: the :class:`~.contract.ResumableLoop` protocol."""

    runner: Any
    dataloader: DataLoader

    def _init_resumable(self) -> None:
        self._resume_state: ResumeState | None = None
        self._stop_points: StopPoints | None = None
        self._batches: Iterator | None = None

    @property
    def batch_sampler(self) -> ResumableBatchSampler | None:
        """The dataloader's :class:`ResumableBatchSampler` (None for a dataloader built elsewhere)."""
        sampler = self.dataloader.batch_sampler
        return sampler if isinstance(sampler, ResumableBatchSampler) else None

    def attach(self, stop_points: StopPoints | None) -> None:
        """Calls ``stop_points`` at every stop point from now on (None: no stop points)."""
        self._stop_points = stop_points

    def snapshot(self, phase: Phase) -> ResumeState:
        """The record of the current state, with every rank's random state (all ranks call it).

        Args:
            phase: :data:`~.state.IN_EPOCH` (after the current iteration) or
                :data:`~.state.EPOCH_START` (before the next epoch begins).
        """
        sampler = self.batch_sampler
        position, data_epoch = self._data_position() if phase == IN_EPOCH else (0, self._next_data_epoch())
        return ResumeState(
            phase=phase,
            position=position,
            data_epoch=data_epoch,
            batches_per_epoch=len(self.dataloader),
            sample_seed=sampler.seed if sampler is not None else None,
            sampler_seed=getattr(sampler.sampler if sampler else None, 'seed', None),  # samplers without one
            world_size=get_world_size(),
            random=gather_random_states(),
        )

    def resume_from(self, state: ResumeState) -> None:
        """Takes a resumed checkpoint's record: the data position and the random state to restore.

        Called from ``PreemptionHook.after_load_checkpoint``; the random state
        is restored only when this run has as many processes as the saved one.
        """
        sampler = self.batch_sampler
        if sampler is not None:
            if state.sample_seed is not None:
                sampler.seed = state.sample_seed
            if state.sampler_seed is not None and hasattr(sampler.sampler, 'seed'):
                sampler.sampler.seed = state.sampler_seed
        elif state.mid_epoch:
            _warn(
                'The train dataloader was not built by the preemptible loop: the resumed epoch restarts at its '
                'first batch.'
            )
        if state.world_size != get_world_size():
            _warn(
                f'The checkpoint was saved by {state.world_size} processes, this run has {get_world_size()}: '
                'random states are not restored.'
            )
        self._resume_state = state

    def _take_resume_state(self, phase: Phase) -> ResumeState | None:
        """The pending record if it was captured in ``phase`` (consumed)."""
        state = self._resume_state
        if state is None or state.phase != phase:
            return None
        self._resume_state = None
        return state

    def _restore_random(self, state: ResumeState | None) -> None:
        random = None if state is None else state.random_state_of(get_rank(), get_world_size())
        if random is not None:
            set_random_state(random)

    def _new_iterator(self, skip: int) -> Iterator:
        """A data iterator that starts at batch ``skip`` of the pass; making it draws no training randomness."""
        if self.batch_sampler is not None:
            self.batch_sampler.skip_next(skip)
        with preserved_random_state():
            self._batches = iter(self.dataloader)
        return self._batches

    def _stop_point(self, phase: Phase) -> None:
        """Lets the attached hook save a checkpoint, or stop the run here (it raises ``TrainingPreempted``)."""
        if self._stop_points is None:
            return
        try:
            self._stop_points.stop_point(self.runner, self, phase)
        except SystemExit:
            self._shutdown_workers()
            raise

    def _shutdown_workers(self) -> None:
        """Stops the data-loader workers now (they ignore SIGTERM, so the interpreter's exit could not)."""
        for iterator in (self._batches, getattr(self.dataloader, '_iterator', None)):  # torch's persistent one
            shutdown = getattr(iterator, '_shutdown_workers', None)  # torch's multi-process iterator only
            if callable(shutdown):
                shutdown()

    def _data_position(self) -> tuple[int, int]:
        """``(batches consumed in the current pass, the sampler's epoch)``."""
        raise NotImplementedError

    def _next_data_epoch(self) -> int:
        """The sampler epoch of the next pass."""
        raise NotImplementedError


def _warn(message: str) -> None:
    print_log(message, logger='current', level=logging.WARNING)


@LOOPS.register_module()
class PreemptibleEpochBasedTrainLoop(PreemptibleLoopMixin, EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` that stops and resumes at any iteration (same arguments).

    Args:
        runner: The runner.
        dataloader: The train dataloader config (a built DataLoader trains
            but cannot skip batches on resume).
        max_epochs: Total training epochs.
        val_begin: The epoch that begins validating. Defaults to 1.
        val_interval: Validation interval in epochs. Defaults to 1.
        dynamic_intervals: ``(milestone, interval)`` pairs. Defaults to None.
    """

    def __init__(
        self,
        runner: Any,
        dataloader: DataLoader | dict,
        max_epochs: int,
        val_begin: int = 1,
        val_interval: int = 1,
        dynamic_intervals: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        if isinstance(dataloader, dict):
            dataloader = resumable_dataloader_cfg(dataloader, runner.seed)
        super().__init__(runner, dataloader, max_epochs, val_begin, val_interval, dynamic_intervals)
        self._init_resumable()
        self._position = 0
        self._started = False

    def run_epoch(self) -> None:
        """Trains one epoch from its first untrained batch, with a stop point before it (between epochs, once
        the previous one is validated; not before the run's first) and after every iteration."""
        if self._started:
            self._stop_point(EPOCH_START)
        self._started = True
        self._restore_random(self._take_resume_state(EPOCH_START))
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        resume = self._take_resume_state(IN_EPOCH)
        start = resume.position if resume is not None else 0
        batches = self._new_iterator(start)
        self._restore_random(resume)
        for idx, data_batch in enumerate(batches, start):
            self._position = idx + 1
            self.run_iter(idx, data_batch)
            self._stop_point(IN_EPOCH)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
        self._position = 0

    def _data_position(self) -> tuple[int, int]:
        return self._position, self._epoch

    def _next_data_epoch(self) -> int:
        return self._epoch if self._position == 0 else self._epoch + 1


class _EndlessBatches:
    """Batches of a dataloader without end, from a given pass and batch (mmengine's infinite iterator, resumable).

    Args:
        loop: The loop whose dataloader is read.
        data_epoch: Sampler epoch of the first pass.
        position: Batches of the first pass to skip.
    """

    def __init__(self, loop: PreemptibleLoopMixin, data_epoch: int, position: int) -> None:
        self._loop = loop
        self.data_epoch = data_epoch
        self.position = position
        self._set_epoch()
        self._iterator = loop._new_iterator(position)

    def __iter__(self) -> '_EndlessBatches':
        return self

    def __next__(self) -> Any:
        try:
            batch = next(self._iterator)
        except StopIteration:  # a finite sampler (e.g. DefaultSampler): next pass, as mmengine does
            self.data_epoch += 1
            self.position = 0
            self._set_epoch()
            self._iterator = self._loop._new_iterator(0)
            batch = next(self._iterator)
        self.position += 1
        return batch

    def _set_epoch(self) -> None:
        sampler = self._loop.batch_sampler.sampler if self._loop.batch_sampler else None
        if sampler is not None and hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(self.data_epoch)


@LOOPS.register_module()
class PreemptibleIterBasedTrainLoop(PreemptibleLoopMixin, IterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop`` that stops and resumes at any iteration (same arguments).

    A resumed run skips the trained batches without loading them (mmengine's
    loop loads and discards every one).

    Args:
        runner: The runner.
        dataloader: The train dataloader config.
        max_iters: Total training iterations.
        val_begin: The iteration that begins validating. Defaults to 1.
        val_interval: Validation interval in iterations. Defaults to 1000.
        dynamic_intervals: ``(milestone, interval)`` pairs. Defaults to None.
    """

    def __init__(
        self,
        runner: Any,
        dataloader: DataLoader | dict,
        max_iters: int,
        val_begin: int = 1,
        val_interval: int = 1000,
        dynamic_intervals: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        if isinstance(dataloader, dict):
            # mmengine's __init__ makes an iterator before the resume point is known: its pass stays empty.
            dataloader = resumable_dataloader_cfg(dataloader, runner.seed, hold_first_pass=True)
        super().__init__(runner, dataloader, max_iters, val_begin, val_interval, dynamic_intervals)
        self._init_resumable()

    def run(self) -> Any:
        """Trains until ``max_iters`` (mmengine's, from the resumed batch), with a stop point after every iteration."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        self._start_batches()
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            data_batch = next(self.dataloader_iterator)
            self.run_iter(data_batch)
            self._decide_current_val_interval()
            if (
                self.runner.val_loop is not None
                and self._iter >= self.val_begin
                and (self._iter % self.val_interval == 0 or self._iter == self._max_iters)
            ):
                self.runner.val_loop.run()
            self._stop_point(IN_EPOCH)
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def _start_batches(self) -> None:
        """Makes the data iterator start at the resumed batch, then restores the resumed random state."""
        resume = self._take_resume_state(IN_EPOCH)
        data_epoch, position = (resume.data_epoch, resume.position) if resume else (0, 0)
        self.dataloader_iterator = _EndlessBatches(self, data_epoch, position)
        self._restore_random(resume)

    def _data_position(self) -> tuple[int, int]:
        batches = self.dataloader_iterator
        if isinstance(batches, _EndlessBatches):
            return batches.position, batches.data_epoch
        return 0, 0

    def _next_data_epoch(self) -> int:
        return self._data_position()[1]
