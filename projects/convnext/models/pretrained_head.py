"""A classifier head initialised from a ConvNeXt checkpoint when the shapes match, else as a new head.

ConvNeXt ``main.py`` deletes the checkpoint's ``head.*`` only when its shape differs from the new model's, so an
ImageNet-1K 224 -> 384 fine-tuning keeps the trained 1000-class head, while an ImageNet-22K -> 1K one starts a new
head (only there ``head_init_scale`` applies)::

    head=dict(
        type='LinearClsHead',
        init_cfg=dict(type='convnext.PretrainedHead', checkpoint=URL, layer='Linear', std=2e-5, bias=0.0),
    )
"""

import logging

from mmengine.logging import print_log
from mmengine.model.weight_init import TruncNormalInit
from torch import nn

from ..registry import WEIGHT_INITIALIZERS
from ..serialization import read_checkpoint
from .checkpoint import HEAD_PREFIX, convert_to_convnext, unwrap_state_dict

LOCAL_FILE_HINT = 'pass the local file with --cfg-options model.head.init_cfg.checkpoint=PATH'
"""How to use a downloaded copy when the head's checkpoint URL cannot be fetched."""


@WEIGHT_INITIALIZERS.register_module()
class PretrainedHead(TruncNormalInit):
    """Truncated-normal init (a new head), then the classifier of a checkpoint if it fits.

    The checkpoint may be in any format :func:`convert_to_convnext` reads; its ``head.*`` tensors (``head.fc.*``
    after conversion) are loaded when the module has exactly those keys with the same shapes. Otherwise the module
    keeps the new initialisation and one log line says why.

    Args:
        checkpoint: A local path or an ``http(s)://`` URL.
        **kwargs: :class:`mmengine.model.TruncNormalInit` arguments of the new-head init (``std``, ``bias``,
            ``layer``, ...), e.g. ``std=2e-5`` for the fine-tuning head init scale 0.001.
    """

    def __init__(self, checkpoint: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.checkpoint = checkpoint

    def __call__(self, module: nn.Module) -> None:
        """Initialises ``module`` (an mmpretrain ``LinearClsHead``) as new, then loads the checkpoint's if it fits."""
        super().__call__(module)
        converted, _ = convert_to_convnext(unwrap_state_dict(read_checkpoint(self.checkpoint, LOCAL_FILE_HINT)))
        head = {key[len(HEAD_PREFIX) :]: value for key, value in converted.items() if key.startswith(HEAD_PREFIX)}
        own = {key: tuple(value.shape) for key, value in module.state_dict().items()}
        found = {key: tuple(value.shape) for key, value in head.items()}
        if found != own:
            print_log(
                f'{self.checkpoint}: its classifier {found} does not fit the head {own}; the head is new',
                logger='current',
                level=logging.INFO,
            )
            return
        module.load_state_dict(head)
        print_log(f'Loaded the classifier head from {self.checkpoint}', logger='current', level=logging.INFO)

    def _get_init_info(self) -> str:
        return f'{self.__class__.__name__}: {self.checkpoint} if its head fits, else {super()._get_init_info()}'
