"""Safe loading of mmengine's own checkpoints under ``torch.load(weights_only=True)``.

torch >= 2.6 loads with ``weights_only=True`` by default and mmengine 0.10.7
calls ``torch.load`` without the argument, so ``--resume`` fails on the
message hub's ``HistoryBuffer`` and the numpy arrays and scalars inside it.
Rather than switching the protection off, we allowlist exactly the types that
mmengine's checkpoints hold; foreign pretrained weights still load with the
default allowlist only.
"""

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def _numpy_globals() -> list:
    """The numpy callables and classes that pickled arrays and scalars refer to."""
    core = getattr(np, '_core', None) or np.core  # numpy 2 renamed core to _core
    multiarray = core.multiarray
    dtype_classes = [type(np.dtype(name)) for name in ('float64', 'float32', 'int64', 'int32', 'bool', 'uint8')]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtype_classes]


def mmengine_checkpoint_globals() -> list:
    """Every non-tensor global an mmengine Runner checkpoint refers to."""
    return [HistoryBuffer, *_numpy_globals()]


def allow_mmengine_checkpoints() -> None:
    """Adds :func:`mmengine_checkpoint_globals` to torch's ``weights_only`` allowlist."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
