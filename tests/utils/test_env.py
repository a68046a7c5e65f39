"""convnext.utils.env and errors: device adaptation and the one-line errors of configs that fail to build."""

from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from convnext.exceptions import CheckpointReadError, ConfigError, as_read_error
from convnext.utils import adapt_cfg_to_device
from convnext.utils.errors import config_build_errors
from convnext.utils.hardware import cpu_description

ROOT = Path(__file__).resolve().parents[2]


def test_no_workers_turns_persistent_workers_off_and_says_so() -> None:
    """mmdet configs set persistent_workers=True; torch's DataLoader refuses it with num_workers=0."""
    cfg = Config.fromfile(str(ROOT / 'configs' / 'mask_rcnn_convnext_t_3x.py'))
    cfg.merge_from_dict({'train_dataloader.num_workers': 0})
    assert cfg.train_dataloader.persistent_workers and cfg.val_dataloader.num_workers > 0
    adapted, changes = adapt_cfg_to_device(cfg, distributed=False)
    assert adapted.train_dataloader.persistent_workers is False
    assert adapted.val_dataloader.persistent_workers is True  # it has workers: unchanged
    assert 'train_dataloader.persistent_workers -> False (num_workers=0)' in changes
    assert cfg.train_dataloader.persistent_workers is True  # the caller's config is not modified


def test_build_errors_name_the_config_key() -> None:
    backbone = {'type': 'convnext.ConvNeXtV2', 'arch': 'gigantic', 'out_type': 'avg'}
    head = {'type': 'LinearClsHead', 'num_classes': 2, 'in_channels': 320}
    model = {'type': 'ImageClassifier', 'backbone': backbone, 'head': head}
    cfg = Config({'default_scope': 'mmpretrain', 'model': model})
    init_default_scope('mmpretrain')
    with pytest.raises(ConfigError, match=r"^model\.backbone\.arch: Unknown arch 'gigantic'.*my_config\.py"):
        with config_build_errors(cfg, 'my_config.py'):
            MODELS.build(cfg.model)


def test_other_errors_pass_through() -> None:
    with pytest.raises(ZeroDivisionError):
        with config_build_errors(Config({}), 'my_config.py'):
            _ = 1 / 0


def test_read_errors_name_the_file_and_leave_disallowed_types_alone(tmp_path: Path) -> None:
    error = as_read_error(str(tmp_path / 'x.pth'), RuntimeError('PytorchStreamReader failed reading zip archive: x'))
    assert isinstance(error, CheckpointReadError)
    assert str(error).startswith(f'{tmp_path / "x.pth"} is not a readable PyTorch checkpoint (truncated or corrupt?)')
    assert as_read_error('x.pth', RuntimeError('Unsupported global: GLOBAL os.system')) is None


def test_cpu_description_names_model_and_vector_extensions(tmp_path: Path) -> None:
    cpuinfo = tmp_path / 'cpuinfo'
    first = 'processor\t: 0\nmodel name\t: AMD EPYC 9454\nflags\t\t: fpu sse avx2 fma avx512f\n'
    cpuinfo.write_text(first + '\nprocessor\t: 1\n')
    line = cpu_description(cpuinfo)
    assert line.startswith('CPU: AMD EPYC 9454 (') and 'avx2 fma avx512f;' in line and 'torch kernels: ' in line
