"""mim, installed with the test extras (requirements/tests.txt), searches the hosts' model indexes offline."""

import subprocess
import sys
from pathlib import Path

MIM = Path(sys.executable).with_name('mim')


def test_mim_lists_the_hosts_convnext_v2_configs_offline() -> None:
    command = [str(MIM), 'search', 'mmpretrain', '--model', 'convnext v2', '--field', 'config']
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'configs/convnext_v2/convnext-v2-atto_32xb32_in1k.py' in done.stdout
