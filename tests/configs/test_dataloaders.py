"""Every config's dataloaders build the way mmengine's Runner builds them.

``Runner.build_dataloader`` pops ``collate_fn``'s ``type``, looks it up in the
``FUNCTIONS`` registry and binds every other key as a keyword argument, so a
key the function does not take (such as the ``_scope_`` mmengine's Config adds
to what an ``mmpretrain::`` base defines) fails at the first batch of a run.
"""

import inspect
from pathlib import Path

import mmengine.dataset  # noqa: F401  (registers pseudo_collate and default_collate, as the Runner imports it)
import pytest
from mmengine.config import Config
from mmengine.registry import FUNCTIONS, DefaultScope

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
DEFAULT_COLLATE = 'pseudo_collate'
"""The Runner's ``collate_fn`` when a dataloader names none."""


@pytest.mark.parametrize('config', sorted(p.name for p in CONFIG_DIR.glob('*.py')))
def test_collate_fn_takes_what_the_runner_passes(config: str) -> None:
    cfg = Config.fromfile(str(CONFIG_DIR / config))
    for key in DATALOADERS:
        loader = cfg.get(key)
        if not loader:
            continue
        collate = dict(loader.get('collate_fn', {'type': DEFAULT_COLLATE}))
        name = collate.pop('type')
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
            function = FUNCTIONS.get(name) if isinstance(name, str) else name
        assert function is not None, f'{config}: {key}.collate_fn type {name!r} is not a registered function'
        try:
            inspect.signature(function).bind([], **collate)
        except TypeError as error:
            pytest.fail(f'{config}: {key}.collate_fn {name} cannot take {sorted(collate)}: {error}')
