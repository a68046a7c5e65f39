"""What a tool prints while it loads a config: nothing from the libraries' own deprecations.

mmengine's ``Config`` imports and reloads ``pkg_resources`` for every ``mmdet::``-style base, and setuptools warns
at each: a Mask R-CNN config printed the same deprecation five times before the first line of the run.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOAD = 'import sys; from convnext.utils import load_config; load_config(sys.argv[1]); print("loaded")'


def test_loading_an_mmdet_config_prints_no_pkg_resources_deprecation() -> None:
    config = ROOT / 'configs' / 'mask_rcnn_convnext_t_3x.py'
    done = subprocess.run(
        [sys.executable, '-W', 'default', '-c', LOAD, str(config)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == 'loaded'
    assert 'pkg_resources is deprecated' not in done.stderr, done.stderr[-2000:]


def test_the_filter_ends_with_the_config_load() -> None:
    """Only setuptools' message is silenced, and only while the config loads."""
    after = LOAD + '; import warnings; warnings.warn("pkg_resources is deprecated as an API: shown after the load")'
    config = ROOT / 'configs' / 'convnext_t_sup_300e_in1k.py'
    done = subprocess.run([sys.executable, '-c', after, str(config)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'shown after the load' in done.stderr
