"""Config files for the tools: loading with ``--cfg-options`` (unknown keys warned about or refused) and the
checks that would otherwise fail deep inside the Runner (host package installed, data roots present)."""

import difflib
import importlib.util
import inspect
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmengine.config import Config
from mmengine.runner import FlexibleRunner, Runner

from ..engine import PREEMPTION_KEY
from ..exceptions import ConfigError
from .cli import STRICT_CFG_OPTIONS_FLAG

READ_TOP_LEVEL_KEYS = (
    'runner_type',
    'custom_imports',
    'model_wrapper_cfg',
    'find_unused_parameters',
    'sync_bn',
    'compile',
    'activation_checkpointing',
    'efficient_conv_bn_eval',
    'tta_model',
    'tta_pipeline',
    'load_strict',
    PREEMPTION_KEY,
)
"""Top-level config keys read besides the Runner's arguments: by mmengine (``Config``, ``Runner.wrap_model``,
``Runner.train``), by ``tools/test.py`` (``--tta``; ``load_strict``, which its Runner reads) and by
:func:`convnext.engine.make_preemptible`. A ``--cfg-options`` key starting with one of them, or with an argument
of ``Runner`` / ``FlexibleRunner``, may be new in the config."""

PKG_RESOURCES_DEPRECATION = 'pkg_resources is deprecated as an API'
"""setuptools' warning at every import (and reload) of ``pkg_resources``: mmengine's ``Config`` imports and
reloads it once per ``mmdet::``-style base file (``mmengine.utils.is_installed``), so one config load printed it
several times; it is silenced while a config loads, and only there."""

SUGGESTION_CUTOFF = 0.6
"""Least ``difflib`` similarity of an existing key offered as "did you mean" (difflib's own default)."""


def load_config(path: str, cfg_options: dict | None = None, strict_cfg_options: bool = False) -> Config:
    """Loads a config file and merges ``--cfg-options`` into it.

    mmengine adds an override whose key is not in the config as a new key, so a
    misspelt ``optim_wraper.optimizer.lr=0.5`` would change nothing. A key whose
    first component is neither in the config nor read by the Runner (see
    :func:`unknown_cfg_options`) gets one ``warning:`` line on stderr naming the
    closest existing key, or is an error with ``strict_cfg_options``.

    Args:
        path: Config file path.
        cfg_options: Overrides in mmengine's ``key.sub=value`` form. Defaults to None.
        strict_cfg_options: Refuse unknown override keys instead of warning.
            Defaults to False.

    Raises:
        ConfigError: The file is missing, not a ``.py``/``.json``/``.yaml`` file,
            or cannot be parsed (e.g. it inherits from a host package that is
            not installed); with ``strict_cfg_options``, an unknown override key.
    """
    if not Path(path).is_file():
        raise ConfigError(f'config file not found: {path}')
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message=PKG_RESOURCES_DEPRECATION, category=UserWarning)
            cfg = Config.fromfile(path)
    except Exception as error:  # mmengine raises many types; the message names the cause
        raise ConfigError(f'cannot load config {path}: {type(error).__name__}: {error}') from error
    if cfg_options:
        problems = unknown_cfg_options(cfg, cfg_options, path)
        if problems and strict_cfg_options:
            others = f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''
            raise ConfigError(problems[0] + others)
        for problem in problems:
            print(f'warning: {problem}; added as a new key ({STRICT_CFG_OPTIONS_FLAG} refuses it)', file=sys.stderr)
        cfg.merge_from_dict(cfg_options)
    return cfg


def known_top_level_keys() -> frozenset[str]:
    """Top-level keys a config may leave out: the arguments of mmengine's Runners and :data:`READ_TOP_LEVEL_KEYS`."""
    arguments = {name for runner in (Runner, FlexibleRunner) for name in inspect.signature(runner).parameters}
    return frozenset((arguments - {'cfg'}) | set(READ_TOP_LEVEL_KEYS))


def unknown_cfg_options(cfg: Config, cfg_options: dict, path: str) -> list[str]:
    """One message per ``--cfg-options`` key whose first component is neither in ``cfg`` nor known.

    Known keys (:func:`known_top_level_keys`) are read by mmengine's Runner or
    the tools even when a config leaves them out (``randomness``, ``resume``,
    ``load_from``, ...). Each message names the key, the config and the closest
    existing or known key (``difflib``), e.g. ``--cfg-options optim_wraper.optimizer.lr:
    'optim_wraper' is not a key of cfg.py (did you mean optim_wrapper?)``.

    Args:
        cfg: The loaded config, before the overrides are merged.
        cfg_options: The overrides, ``{'key.sub': value}``.
        path: The config's file path, for the messages.
    """
    existing = set(cfg.keys())
    candidates = sorted(existing | known_top_level_keys())
    problems = []
    for key in cfg_options:
        first = key.split('.', 1)[0]
        if first in candidates:
            continue
        close = difflib.get_close_matches(first, candidates, n=1, cutoff=SUGGESTION_CUTOFF)
        hint = f'did you mean {close[0]}?' if close else 'no similar key'
        problems.append(f"--cfg-options {key}: '{first}' is not a key of {path} ({hint})")
    return problems


def check_config(cfg: Config, path: str, loaders: tuple[str, ...]) -> None:
    """Checks what would otherwise fail deep inside the Runner.

    Args:
        cfg: The loaded config.
        path: Its file path, for the messages.
        loaders: Dataloader keys whose ``data_root`` must exist, e.g.
            ``('train_dataloader', 'val_dataloader')``.

    Raises:
        ConfigError: The config's ``default_scope`` is not an installed package,
            or a dataset's ``data_root`` does not exist.
    """
    scope = cfg.get('default_scope')
    if scope is not None and importlib.util.find_spec(scope) is None:
        raise ConfigError(
            f"config {path} has default_scope '{scope}', but no package '{scope}' is installed "
            f'(set up with: bash tools/install.sh)'
        )
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for key, root in _data_roots(loader_cfg.get('dataset'), f'{loader}.dataset'):
            if not Path(root).exists():
                raise ConfigError(
                    f"data root '{root}' does not exist ({key} in {path}); create the data or pass "
                    f'--cfg-options {key}=PATH'
                )


def _data_roots(dataset: Any, key: str) -> Iterator[tuple[str, str]]:
    """Yields ``(config key, data_root)`` of a dataset config and the datasets it wraps."""
    if isinstance(dataset, dict):
        if dataset.get('data_root'):
            yield f'{key}.data_root', dataset['data_root']
        yield from _data_roots(dataset.get('dataset'), f'{key}.dataset')
        for i, child in enumerate(dataset.get('datasets') or []):
            yield from _data_roots(child, f'{key}.datasets.{i}')
