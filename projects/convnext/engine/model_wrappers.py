"""Distributed data parallel on CPU (gloo) for mmengine's Runner."""

from typing import Any

from mmengine.model import MMDistributedDataParallel
from torch import nn

from ..registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` that accepts a model on the CPU.

    mmengine's Runner always passes ``device_ids=[LOCAL_RANK]``, which torch's
    DDP rejects for a CPU module. This wrapper drops ``device_ids`` and
    ``output_device`` when the module has no CUDA parameter, so the same
    config trains with ``tools/dist_train.sh`` on a machine without GPUs.

    Args:
        module: The model to wrap.
        **kwargs: Passed to :class:`MMDistributedDataParallel`.
    """

    def __init__(self, module: nn.Module, **kwargs: Any) -> None:
        if not any(param.is_cuda for param in module.parameters()):
            kwargs = {k: v for k, v in kwargs.items() if k not in ('device_ids', 'output_device')}
        super().__init__(module=module, **kwargs)
