"""mmengine's epoch- and iteration-based train loops, made to stop and resume at any iteration.

Each loop:

- trains on the config's dataloader wrapped by
  :func:`~convnext.engine.data.resumable_dataloader_cfg`, so a resumed epoch
  skips the batches already trained (without loading them) and regenerates
  the remaining samples exactly;
- restores the random state saved with the checkpoint at the point where it
  was captured (see :meth:`PreemptibleLoopMixin.resume_from`);
- keeps validation and the creation of data iterators out of the training
  random stream (both run with the generators' state preserved), so where a
  run was stopped or how often it validates does not change its training;
- calls :class:`~convnext.engine.hooks.PreemptionHook` at every stop point:
  after each iteration, and at each epoch boundary after validation.
"""

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from torch.utils.data import DataLoader

from ..registry import LOOPS
from .data import ResumableBatchSampler, resumable_dataloader_cfg
from .random_state import preserved_random_state, set_random_state

IN_EPOCH = 'in_epoch'
"""Resume phase of a state captured after an iteration: restored once the epoch's data iterator exists."""

EPOCH_START = 'epoch_start'
"""Resume phase of a state captured between epochs: restored before the epoch begins."""

RESUME_STATE_VERSION = 1
"""Version of the ``resume_state`` entry of our checkpoints."""


class PreemptibleLoopMixin:
    """What the epoch- and iteration-based loops share: data position, resume state and stop points."""

    runner: Any
    dataloader: DataLoader

    def _init_resumable(self) -> None:
        self._resume_state: dict | None = None
        self._stop_hook = None
        self._batches: Iterator | None = None

    @property
    def batch_sampler(self) -> ResumableBatchSampler | None:
        """The dataloader's :class:`ResumableBatchSampler` (None for a dataloader built elsewhere)."""
        sampler = getattr(self.dataloader, 'batch_sampler', None)
        return sampler if isinstance(sampler, ResumableBatchSampler) else None

    def snapshot(self, phase: str) -> dict:
        """The loop's part of a checkpoint's ``resume_state`` (random states are added by the hook).

        Args:
            phase: :data:`IN_EPOCH` (after the current iteration) or
                :data:`EPOCH_START` (before the next epoch begins).
        """
        sampler = self.batch_sampler
        position, data_epoch = self._data_position() if phase == IN_EPOCH else (0, self._next_data_epoch())
        return {
            'version': RESUME_STATE_VERSION,
            'phase': phase,
            'position': position,
            'data_epoch': data_epoch,
            'batches_per_epoch': len(self.dataloader),
            'sample_seed': sampler.seed if sampler is not None else None,
            'sampler_seed': getattr(sampler.sampler if sampler else None, 'seed', None),
        }

    def resume_from(self, state: dict) -> None:
        """Takes a checkpoint's ``resume_state``: where the data continues, and the random state to restore.

        Called from ``PreemptionHook.after_load_checkpoint``; the random state
        for this rank is ``state['random']`` (None: not restored).
        """
        sampler = self.batch_sampler
        if sampler is not None:
            if state.get('sample_seed') is not None:
                sampler.seed = state['sample_seed']
            if state.get('sampler_seed') is not None and hasattr(sampler.sampler, 'seed'):
                sampler.sampler.seed = state['sampler_seed']
        elif state['phase'] == IN_EPOCH and state['position']:
            print_log(
                'The train dataloader was not built by the preemptible loop: the resumed epoch restarts at its '
                'first batch.',
                logger='current',
                level=logging.WARNING,
            )
        self._resume_state = state

    def _take_resume_state(self, phase: str) -> dict | None:
        """The pending resume state if it was captured in ``phase`` (consumed)."""
        state = self._resume_state
        if state is None or state['phase'] != phase:
            return None
        self._resume_state = None
        return state

    def _restore_random(self, state: dict | None) -> None:
        if state is not None and state.get('random') is not None:
            set_random_state(state['random'])

    def _new_iterator(self, skip: int) -> Iterator:
        """A data iterator that starts at batch ``skip`` of the pass; making it draws no training randomness."""
        if self.batch_sampler is not None:
            self.batch_sampler.skip_next(skip)
        with preserved_random_state():
            self._batches = iter(self.dataloader)
        return self._batches

    def _validate(self) -> None:
        """Runs the validation loop without drawing from the training random stream."""
        with preserved_random_state():
            self.runner.val_loop.run()

    def _stop_point(self, phase: str) -> None:
        """Lets the preemption hook save a checkpoint, or stop the run here (it raises ``TrainingPreempted``)."""
        if self._stop_hook is None:  # the first hook that answers ``stop_point(runner, loop, phase)``
            self._stop_hook = next((h for h in self.runner.hooks if callable(getattr(h, 'stop_point', None))), False)
        if not self._stop_hook:
            return
        try:
            self._stop_hook.stop_point(self.runner, self, phase)
        except SystemExit:
            self._shutdown_workers()
            raise

    def _shutdown_workers(self) -> None:
        """Stops the data-loader workers now (they ignore SIGTERM, so the interpreter's exit could not)."""
        iterators = (getattr(self, '_batches', None), getattr(self.dataloader, '_iterator', None))
        for iterator in iterators:
            shutdown = getattr(iterator, '_shutdown_workers', None)  # torch's multi-process iterator
            if callable(shutdown):
                shutdown()

    def _data_position(self) -> tuple[int, int]:
        """``(batches consumed in the current pass, the sampler's epoch)``."""
        raise NotImplementedError

    def _next_data_epoch(self) -> int:
        """The sampler epoch of the next pass."""
        raise NotImplementedError


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

    def run(self) -> Any:
        """Trains until ``max_epochs`` (as mmengine), with a stop point at every epoch boundary."""
        self.runner.call_hook('before_train')
        first_epoch = self._epoch
        while self._epoch < self._max_epochs and not self.stop_training:
            if self._epoch > first_epoch:
                self._stop_point(EPOCH_START)
            self.run_epoch()
            self._decide_current_val_interval()
            if (
                self.runner.val_loop is not None
                and self._epoch >= self.val_begin
                and (self._epoch % self.val_interval == 0 or self._epoch == self._max_epochs)
            ):
                self._validate()
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_epoch(self) -> None:
        """Trains one epoch from its first untrained batch, with a stop point after every iteration."""
        self._restore_random(self._take_resume_state(EPOCH_START))
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        resume = self._take_resume_state(IN_EPOCH)
        start = resume['position'] if resume is not None else 0
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
        """Trains until ``max_iters`` (as mmengine), with a stop point after every iteration."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        resume = self._take_resume_state(IN_EPOCH)
        data_epoch, position = (resume['data_epoch'], resume['position']) if resume else (0, 0)
        self.dataloader_iterator = _EndlessBatches(self, data_epoch, position)
        self._restore_random(resume)
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
                self._validate()
            self._stop_point(IN_EPOCH)
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def _data_position(self) -> tuple[int, int]:
        batches = self.dataloader_iterator
        if isinstance(batches, _EndlessBatches):
            return batches.position, batches.data_epoch
        return 0, 0

    def _next_data_epoch(self) -> int:
        return self._data_position()[1]
