"""Two gloo processes: a SIGTERM to rank 0 only stops both ranks at the same iteration (exit code 75 on each),
and --resume ends with exactly the weights, EMA weights and optimizer state of an uninterrupted two-process run."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convnext.engine import PREEMPTED_EXIT
from convnext.serialization import read_checkpoint

ROOT = Path(__file__).resolve().parents[2]
HELPERS = ROOT / 'tests' / 'engine'
sys.path.insert(0, str(HELPERS))
from preemption_helpers import (  # noqa: E402
    CLS_BATCH_SIZE,
    CLS_EPOCHS,
    IMAGES_PER_CLASS,
    NUM_CLASSES,
    classifier_config,
    make_image_folder,
    max_difference,
    signal_hook,
)

pytestmark = pytest.mark.slow

WORLD_SIZE = 2
BATCHES_PER_EPOCH = NUM_CLASSES * IMAGES_PER_CLASS // (CLS_BATCH_SIZE * WORLD_SIZE)
STOP_ITERATION = BATCHES_PER_EPOCH + 1  # inside the second epoch
FINAL = f'epoch_{CLS_EPOCHS}.pth'
TIMEOUT = 900


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def train_two_processes(config: Path, work_dir: Path, *options: str) -> tuple[list[int], float]:
    """tools/train.py on two gloo processes (torchrun's environment); returns their exit codes and end time."""
    port = str(free_port())
    python_path = os.pathsep.join(filter(None, [str(HELPERS), os.environ.get('PYTHONPATH')]))
    processes = []
    for rank in range(WORLD_SIZE):
        env = dict(
            os.environ,
            CUDA_VISIBLE_DEVICES='',
            OMP_NUM_THREADS='1',
            PYTHONPATH=python_path,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(WORLD_SIZE),
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=port,
        )
        command = [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir), '--launcher', 'pytorch']
        processes.append(
            subprocess.Popen(
                [*command, *options],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        )
    outputs = [process.communicate(timeout=TIMEOUT)[0] for process in processes]
    ended = time.time()
    codes = [process.returncode for process in processes]
    assert all(code in (0, PREEMPTED_EXIT) for code in codes), outputs[0][-3000:] + outputs[1][-3000:]
    return codes, ended


def test_sigterm_to_one_rank_stops_both_and_resumes_exactly(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_root = make_image_folder(tmp_path_factory.mktemp('preempt_dist_data'))
    reference = tmp_path_factory.mktemp('preempt_dist_reference')
    codes, _ = train_two_processes(classifier_config(reference / 'cfg.py', data_root), reference)
    assert codes == [0, 0]

    work_dir = tmp_path_factory.mktemp('preempt_dist')
    stamp = work_dir / 'signal_time'
    hook = signal_hook(iteration=STOP_ITERATION, rank=0, stamp=str(stamp))
    config = classifier_config(work_dir / 'cfg.py', data_root, hooks=hook)
    codes, ended = train_two_processes(config, work_dir)
    assert codes == [PREEMPTED_EXIT, PREEMPTED_EXIT]
    print(f'stop-to-exit latency (SIGTERM to rank 0 of 2 gloo processes): {ended - float(stamp.read_text()):.2f} s')
    assert read_checkpoint(str(work_dir / 'latest.pth'))['meta']['iter'] == STOP_ITERATION

    codes, _ = train_two_processes(config, work_dir, '--resume')
    assert codes == [0, 0]
    difference = max_difference(read_checkpoint(str(work_dir / FINAL)), read_checkpoint(str(reference / FINAL)))
    print(f'classifier, 2 gloo processes, stop at iteration {STOP_ITERATION}: max difference {difference}')
    assert difference == 0
