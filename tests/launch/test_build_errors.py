"""convnext.launch.build_errors: the one-line errors of configs that fail to build."""

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from convnext.exceptions import ConfigError
from convnext.launch import config_build_errors


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
