"""The loop and the hook meet through the protocols of :mod:`convnext.engine.preemption.contract` only."""

import inspect

from convnext.engine.preemption import PreemptionHook, StopPoints
from convnext.engine.preemption.contract import PREEMPTED_EXIT, TrainingPreempted
from convnext.engine.preemption.loops import PreemptibleLoopMixin


def test_hook_answers_the_stop_points_protocol() -> None:
    signature = inspect.signature(StopPoints.stop_point, eval_str=True)
    assert inspect.signature(PreemptionHook.stop_point, eval_str=True) == signature


def test_loop_calls_the_attached_hook_only() -> None:
    calls = []

    class Recorder:
        def stop_point(self, runner: object, loop: object, phase: str) -> None:
            calls.append((runner, loop, phase))

    loop = PreemptibleLoopMixin()
    loop.runner = 'runner'
    loop._init_resumable()
    loop._stop_point('in_epoch')
    loop.attach(Recorder())
    loop._stop_point('epoch_start')
    loop.attach(None)
    loop._stop_point('in_epoch')
    assert calls == [('runner', loop, 'epoch_start')]


def test_preempted_exit_code() -> None:
    stop = TrainingPreempted('latest.pth')
    assert isinstance(stop, SystemExit) and stop.code == PREEMPTED_EXIT == 75 and stop.checkpoint == 'latest.pth'
