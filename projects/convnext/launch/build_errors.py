"""One-line errors for what goes wrong while the tools build a Runner's parts from the config.

mmengine builds the model, optimizer, schedulers, datasets and loops from
config dicts through its registries and raises whatever the built class
raises, at the bottom of a long traceback. :func:`config_build_errors` turns
such an exception into a :class:`~convnext.exceptions.ConfigError` that names
the config key (found from the dict the registry was building when it failed)
and how to override it; a checkpoint that mmengine cannot read (``load_from``,
``--resume``, ``tools/test.py CHECKPOINT``) becomes a
:class:`~convnext.exceptions.CheckpointReadError` naming the file; a dataset
that fails on its own files (an annotation file that is not JSON, 0 usable
images) becomes a :class:`~convnext.engine.data_checks.DataError` naming them.
Errors of the training or testing steps themselves are left alone. The
traceback's frames are recognised by mmengine's file and function names
(:data:`REGISTRY_BUILD`, :data:`RUNNER_STEPS`, :data:`CHECKPOINT_STEPS`).
"""

import contextlib
import re
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import Any

from ..engine.data_checks import DataError, explain_dataset_build_error
from ..exceptions import ConfigError, as_read_error

REGISTRY_BUILD = ('build_from_cfg', 'mmengine/registry/build_functions.py')
"""mmengine's function that builds an object from a config dict (local ``cfg``), and its file."""

RUNNER_STEPS = {
    'build_model': 'model',
    '_init_model_weights': 'model',
    'build_optim_wrapper': 'optim_wrapper',
    'build_param_scheduler': 'param_scheduler',
    'build_train_loop': 'train_dataloader',
    'build_val_loop': 'val_dataloader',
    'build_test_loop': 'test_dataloader',
    'build_evaluator': 'val_evaluator',
}
"""mmengine ``Runner`` methods that build from the config, and the config key each reads."""

CHECKPOINT_STEPS = ('load_checkpoint', 'resume')
"""``Runner`` methods that read a checkpoint file (their local ``filename``)."""

RUN_STEPS = ('run_iter', 'run_epoch', 'train_step', 'val_step', 'test_step')
"""Functions of a running loop: an error below them is not a build error."""

RUNNER_FILE = 'mmengine/runner/'
"""Where the Runner, its loops and its checkpoint loading live."""

TORCH_LOAD_FILE = 'torch/serialization.py'
"""Where ``torch.load`` reads a file: an error raised there is about the file's bytes."""


@contextlib.contextmanager
def config_build_errors(cfg: Mapping, path: str) -> Iterator[None]:
    """Re-raises build errors of the block as one-line :class:`ConfigError` s.

    Args:
        cfg: The config the Runner is built from (searched for the failing key).
        path: Its file, named in the fix.

    Raises:
        ConfigError: For an exception raised while building from the config or
            reading a checkpoint; others propagate unchanged.
    """
    try:
        yield
    except ConfigError:
        raise
    except Exception as error:
        explained = explain_build_error(error, cfg, path)
        if explained is None:
            raise
        raise explained from error


def explain_build_error(error: BaseException, cfg: Mapping, path: str) -> ConfigError | None:
    """The :class:`ConfigError` for ``error``, or None when it was not raised while building from the config."""
    frames = [frame for frame, _ in _walk(error)]
    if any(frame.f_code.co_name in RUN_STEPS for frame in frames):
        return None
    cfg = cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg  # mmengine's Config is not a Mapping
    read_error = _checkpoint_read_error(frames, error)
    if read_error is not None:
        return read_error
    key = _failing_key(frames, cfg)
    data_problem = explain_dataset_build_error(frames, error)  # the data's files, not the config, are at fault
    if data_problem is not None:
        return DataError(f'{_dataloader_key(frames, key)}: {data_problem}')
    if key is None:
        return None
    key = _narrow_to_leaf(cfg, key, str(error))
    return ConfigError(
        f'{key}: {_summary(error)} (fix {key} in {path} or pass --cfg-options {key}=VALUE; '
        f'--debug or CONVNEXT_DEBUG=1 shows the traceback)'
    )


def _checkpoint_read_error(frames: list[FrameType], error: BaseException) -> ConfigError | None:
    """A :class:`CheckpointReadError` when ``torch.load`` failed on the file a Runner step was reading."""
    if not any(frame.f_code.co_filename.endswith(TORCH_LOAD_FILE) for frame in frames):
        return None
    for frame in frames:
        if frame.f_code.co_name in CHECKPOINT_STEPS and RUNNER_FILE in frame.f_code.co_filename:
            filename = frame.f_locals.get('filename')
            return as_read_error(str(filename), error) if filename else None
    return None


def _walk(error: BaseException) -> Iterator[tuple[FrameType, int]]:
    """The frames of ``error``'s traceback, outermost first."""
    tb = error.__traceback__
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def _failing_key(frames: list[FrameType], cfg: Mapping) -> str | None:
    """The config key of the innermost dict a registry was building, else of the Runner step."""
    for frame in reversed(frames):
        code = frame.f_code
        if code.co_name == REGISTRY_BUILD[0] and code.co_filename.endswith(REGISTRY_BUILD[1]):
            found = _find_dict(cfg, frame.f_locals.get('cfg'))
            if found is not None:
                return found
    for frame in frames:
        if frame.f_code.co_name in RUNNER_STEPS and RUNNER_FILE in frame.f_code.co_filename:
            return RUNNER_STEPS[frame.f_code.co_name]
    return None


def _dataloader_key(frames: list[FrameType], key: str | None) -> str:
    """``key`` under the dataloader the Runner was building: ``test_dataloader = val_dataloader`` gives two equal
    dicts, and tools/test.py reads the test one."""
    loop_steps = [name for name in RUNNER_STEPS if name.endswith('_loop')]
    step = next(
        (
            RUNNER_STEPS[frame.f_code.co_name]
            for frame in frames
            if frame.f_code.co_name in loop_steps and RUNNER_FILE in frame.f_code.co_filename
        ),
        None,
    )
    if step is None:
        return key or 'dataset'
    head, _, rest = (key or '').partition('.')
    return f'{step}.{rest}' if head in {RUNNER_STEPS[name] for name in loop_steps} and rest else f'{step}.dataset'


def _find_dict(cfg: Mapping, target: Any) -> str | None:
    """The key path of the dict in ``cfg`` that ``target`` was built from: equal, else of the same ``type``."""
    if not isinstance(target, Mapping) or 'type' not in target:
        return None
    same_type = [(key, node) for key, node in _dicts(cfg, '') if node.get('type') == target['type']]
    for key, node in same_type:
        if _plain(node) == _plain(target):
            return key
    return same_type[0][0] if same_type else None


def _dicts(node: Any, key: str) -> Iterator[tuple[str, Mapping]]:
    """Every dict inside ``node`` with its dotted key (list items by index)."""
    if isinstance(node, Mapping):
        if key:
            yield key, node
        for name, value in node.items():
            yield from _dicts(value, f'{key}.{name}' if key else str(name))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _dicts(value, f'{key}.{i}')


def _plain(node: Any) -> Any:
    """``node`` as plain dicts and lists, without registry scope markers, for comparison."""
    if isinstance(node, Mapping):
        return {name: _plain(value) for name, value in node.items() if name != '_scope_'}
    if isinstance(node, (list, tuple)):
        return [_plain(value) for value in node]
    return node


def _narrow_to_leaf(cfg: Mapping, key: str, message: str) -> str:
    """``key`` extended by the one setting below it that the message names (e.g. ``model.backbone.arch``)."""
    node: Any = cfg
    for part in key.split('.'):
        if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, Mapping):
            node = node.get(part, {})
        else:
            return key
    named = [
        leaf for leaf in _leaves(node, '') if re.search(rf'(?<![\w.]){re.escape(leaf.rsplit(".", 1)[-1])}\b', message)
    ]
    return f'{key}.{named[0]}' if len(named) == 1 else key


def _leaves(node: Any, key: str) -> Iterator[str]:
    """Dotted keys of the non-dict values inside a config dict."""
    if isinstance(node, Mapping):
        for name, value in node.items():
            yield from _leaves(value, f'{key}.{name}' if key else str(name))
    elif key:
        yield key


def _summary(error: BaseException) -> str:
    """The first line of the error's message, or its type when it has none."""
    lines = [line.strip() for line in str(error).strip().strip('"\'').splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
