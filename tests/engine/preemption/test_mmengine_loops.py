"""The lines the preemptible loops copy from mmengine still match the installed mmengine.

:mod:`convnext.engine.preemption.loops` copies ``EpochBasedTrainLoop.run_epoch``
and ``IterBasedTrainLoop.run`` from mmengine 0.10.7 and relies on
``EpochBasedTrainLoop.run`` (validation after ``run_epoch``, so the stop point
at the start of the next ``run_epoch`` follows it) and on ``ValLoop.run``
calling ``before_val`` first and ``after_val`` last (the hook keeps validation
out of the training random stream there). The bodies are compared as
normalised source (``ast.unparse``: no comments, docstrings or formatting);
an mmengine release that changes them fails here, and the copy is updated
with it.
"""

import ast
import difflib
import inspect
import textwrap
from collections.abc import Callable

from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop, ValLoop

from convnext.engine.preemption.contract import ResumableLoop
from convnext.engine.preemption.loops import PreemptibleEpochBasedTrainLoop, PreemptibleIterBasedTrainLoop

EPOCH_LOOP_RUN = [
    "self.runner.call_hook('before_train')",
    'while self._epoch < self._max_epochs and (not self.stop_training):',
    '    self.run_epoch()',
    '    self._decide_current_val_interval()',
    '    if self.runner.val_loop is not None and self._epoch >= self.val_begin and '
    '(self._epoch % self.val_interval == 0 or self._epoch == self._max_epochs):',
    '        self.runner.val_loop.run()',
    "self.runner.call_hook('after_train')",
    'return self.runner.model',
]
"""mmengine 0.10.7's ``EpochBasedTrainLoop.run``, normalised (not copied: the preemptible loop inherits it)."""

RUN_EPOCH_CHANGES = [
    '+ if self._started:',
    '+     self._stop_point(EPOCH_START)',
    '+ self._started = True',
    '+ self._restore_random(self._take_resume_state(EPOCH_START))',
    '+ resume = self._take_resume_state(IN_EPOCH)',
    '+ start = resume.position if resume is not None else 0',
    '+ batches = self._new_iterator(start)',
    '+ self._restore_random(resume)',
    '- for idx, data_batch in enumerate(self.dataloader):',
    '+ for idx, data_batch in enumerate(batches, start):',
    '+     self._position = idx + 1',
    '+     self._stop_point(IN_EPOCH)',
    '+ self._position = 0',
]
"""What ``PreemptibleEpochBasedTrainLoop.run_epoch`` changes in mmengine 0.10.7's (every other line is mmengine's)."""

ITER_RUN_CHANGES = [
    '+ self._start_batches()',
    '- if self._iter > 0:',
    "-     print_log(f'Advance dataloader {self._iter} steps to skip data that has already been trained', "
    "logger='current', level=logging.WARNING)",
    '-     for _ in range(self._iter):',
    '-         next(self.dataloader_iterator)',
    '+     self._stop_point(IN_EPOCH)',
]
"""What ``PreemptibleIterBasedTrainLoop.run`` changes in mmengine 0.10.7's (every other line is mmengine's)."""


def normalised(function: Callable) -> list[str]:
    """The lines of ``function``'s body without its docstring, comments and formatting."""
    body = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0].body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return [line for statement in body for line in ast.unparse(statement).splitlines()]


def changes(mmengine: Callable, ours: Callable) -> list[str]:
    """The lines removed from (``-``) and added to (``+``) mmengine's body."""
    return [line for line in difflib.ndiff(normalised(mmengine), normalised(ours)) if line[:1] in '+-']


def test_epoch_loop_run_epoch_is_mmengines_with_the_declared_changes() -> None:
    assert changes(EpochBasedTrainLoop.run_epoch, PreemptibleEpochBasedTrainLoop.run_epoch) == RUN_EPOCH_CHANGES


def test_iter_loop_run_is_mmengines_with_the_declared_changes() -> None:
    assert changes(IterBasedTrainLoop.run, PreemptibleIterBasedTrainLoop.run) == ITER_RUN_CHANGES


def test_epoch_loop_run_is_mmengines_own() -> None:
    assert PreemptibleEpochBasedTrainLoop.run is EpochBasedTrainLoop.run
    assert normalised(EpochBasedTrainLoop.run) == EPOCH_LOOP_RUN


def test_iterations_are_mmengines_own() -> None:
    assert PreemptibleEpochBasedTrainLoop.run_iter is EpochBasedTrainLoop.run_iter
    assert PreemptibleIterBasedTrainLoop.run_iter is IterBasedTrainLoop.run_iter


def test_validation_is_between_before_val_and_after_val() -> None:
    lines = normalised(ValLoop.run)
    assert lines[0] == "self.runner.call_hook('before_val')"
    assert lines[-2:] == ["self.runner.call_hook('after_val')", 'return metrics']


def test_loops_answer_the_protocol() -> None:
    assert issubclass(PreemptibleEpochBasedTrainLoop, ResumableLoop)
    assert issubclass(PreemptibleIterBasedTrainLoop, ResumableLoop)
    assert not issubclass(EpochBasedTrainLoop, ResumableLoop)
