"""What the parts of preemption-safe training agree on: signals, exit code, and the loop-hook protocols.

The train loop and :class:`~convnext.engine.preemption.hook.PreemptionHook`
meet through two calls only:

- the hook, in ``before_train``, hands itself to a loop that is a
  :class:`ResumableLoop` (:meth:`ResumableLoop.attach`); the loop then calls
  :meth:`StopPoints.stop_point` wherever it can stop;
- the hook asks the loop for its :class:`~.state.ResumeState`
  (:meth:`ResumableLoop.snapshot`) before a checkpoint is saved, and hands a
  resumed checkpoint's record back (:meth:`ResumableLoop.resume_from`).
"""

from typing import Any, Protocol, runtime_checkable

from .state import Phase, ResumeState

STOP_SIGNALS = ('SIGTERM', 'SIGINT', 'SIGUSR1')
"""Signals that ask a training run to stop (what SLURM and torchrun forward)."""

PREEMPTED_EXIT = 75
"""Exit code of a run stopped by a signal after saving its checkpoint (sysexits.h ``EX_TEMPFAIL``: try again)."""


class TrainingPreempted(SystemExit):
    """Raised on every rank once a stopped run's checkpoint is written; exits with :data:`PREEMPTED_EXIT`.

    Args:
        checkpoint: The checkpoint to resume from.
    """

    def __init__(self, checkpoint: str) -> None:
        super().__init__(PREEMPTED_EXIT)
        self.checkpoint = checkpoint


class StopPoints(Protocol):
    """The hook side: decides at each stop point whether to save and whether to stop."""

    def stop_point(self, runner: Any, loop: 'ResumableLoop', phase: Phase) -> None:
        """Saves a checkpoint if one is due, and raises :class:`TrainingPreempted` if the run must stop.

        Args:
            runner: The runner.
            loop: The calling train loop.
            phase: Where the loop is (see :class:`~.state.ResumeState`).
        """


@runtime_checkable
class ResumableLoop(Protocol):
    """The loop side: a train loop that stops at stop points and resumes from a :class:`~.state.ResumeState`."""

    def attach(self, stop_points: StopPoints | None) -> None:
        """Calls ``stop_points`` at every stop point from now on (None: no stop points)."""

    def snapshot(self, phase: Phase) -> ResumeState:
        """The record of the current state (a collective call in a distributed run: all ranks call it)."""

    def resume_from(self, state: ResumeState) -> None:
        """Continues at the data position of ``state`` and restores its random state where it was captured."""
