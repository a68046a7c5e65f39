"""What each exported ONNX graph computes: the test-time tensor path of a host model.

Every graph takes ``inputs`` ``(N, 3, H, W)`` float32, already normalised the
way the config's data preprocessor does it (:class:`convnext.deploy.OnnxModel`
does that), and returns float32 tensors:

- classifier: ``logits`` ``(N, num_classes)`` (mmpretrain ``mode='tensor'``);
- segmentor: ``seg_logits`` ``(N, num_classes, H, W)``, the decode head's
  output resized to the input as mmseg's ``BaseDecodeHead.predict_by_feat``
  does (sliding-window inference stays in the runner);
- detector: also takes ``image_shape`` (the resized image inside the padded
  input); see :class:`convnext.deploy.detection.TwoStageGraph`.

Adaptive average pooling to sizes that do not divide the input (UperNet's
pyramid pooling: scales 1, 2, 3, 6 of a 16x16 map) has no ONNX operator;
:func:`replace_adaptive_pools` swaps those modules for an exact form with two
averaging matrices (:class:`AdaptiveAvgPool2dAsMatMul`) in the exported copy.

With ``half=True`` the network runs in float16 between a cast of the input and
a cast of the outputs; what the modules keep in float32 (GRN statistics,
LayerNorm, see :mod:`convnext.models.layers`) stays float32 in the graph.
Detectors run only the backbone and neck in float16: box arithmetic in fp16
loses whole pixels on large images.
"""

import torch
import torch.nn.functional as F
from torch import nn

OUTPUT_NAMES = {
    'classification': ('logits',),
    'segmentation': ('seg_logits',),
    'detection': ('boxes', 'scores', 'labels', 'masks'),
}
"""Names of each task's graph outputs, in order."""

INPUT_NAME = 'inputs'
"""Name of the graph input."""

IMAGE_SHAPE_NAME = 'image_shape'
"""Name of a detector graph's second input: ``(2,)`` int64 height and width of the resized image inside the
padded ``inputs`` (mmdet's ``img_shape``), to which boxes are clipped."""


class _NetworkGraph(nn.Module):
    """A host model whose network runs in float32, or in float16 between input and output casts.

    Args:
        model: The built model in eval mode (converted in place when ``half``).
        half: Run the network in float16. Defaults to False.
    """

    def __init__(self, model: nn.Module, half: bool = False) -> None:
        super().__init__()
        self.model = model.half() if half else model
        self.dtype = torch.float16 if half else torch.float32


class ClassifierGraph(_NetworkGraph):
    """Logits of an mmpretrain ``ImageClassifier`` (``model``: the classifier; ``half``: float16 network)."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` -> logits ``(N, num_classes)`` float32."""
        return self.model(inputs.to(self.dtype), mode='tensor').float()


class SegmentorGraph(_NetworkGraph):
    """Per-pixel class scores of an mmseg ``EncoderDecoder`` for a whole input (``model``: the segmentor)."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` -> ``(N, num_classes, H, W)`` float32 logits."""
        feats = self.model.extract_feat(inputs.to(self.dtype))
        logits = self.model.decode_head(feats)
        logits = F.interpolate(
            logits, size=inputs.shape[-2:], mode='bilinear', align_corners=self.model.decode_head.align_corners
        )
        return logits.float()


class AdaptiveAvgPool2dAsMatMul(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as ``P_h @ x @ P_w^T`` with averaging matrices built from the input's size.

    Row ``i`` of ``P_h`` averages input rows ``floor(i * H / h)`` to
    ``ceil((i + 1) * H / h) - 1``, exactly the window of PyTorch's adaptive
    pooling; the matrices are computed from the traced input shape, so a
    dynamic graph stays correct for any size.

    Args:
        output_size: ``(h, w)`` or one side.
    """

    def __init__(self, output_size: int | tuple[int, int]) -> None:
        super().__init__()
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` -> ``(N, C, h, w)``."""
        rows = _pool_matrix(x.shape[-2], self.output_size[0], x)
        cols = _pool_matrix(x.shape[-1], self.output_size[1], x)
        return torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))


def _pool_matrix(size: int | torch.Tensor, out: int, like: torch.Tensor) -> torch.Tensor:
    """``(out, size)`` matrix whose row ``i`` averages the adaptive-pooling window ``i`` of ``size`` positions."""
    index = torch.arange(out, device=like.device)
    start = torch.div(index * size, out, rounding_mode='floor')
    end = torch.div((index + 1) * size + out - 1, out, rounding_mode='floor')
    position = torch.arange(size, device=like.device)
    inside = (position.unsqueeze(0) >= start.unsqueeze(1)) & (position.unsqueeze(0) < end.unsqueeze(1))
    weights = inside.to(like.dtype)
    return weights / weights.sum(dim=1, keepdim=True)


def replace_adaptive_pools(module: nn.Module) -> nn.Module:
    """Swaps every ``nn.AdaptiveAvgPool2d`` below ``module`` (other than to 1x1) for :class:`AdaptiveAvgPool2dAsMatMul`.

    Changes ``module`` in place (call it on the copy being exported) and returns it.
    """
    for name, child in list(module.named_children()):
        if isinstance(child, nn.AdaptiveAvgPool2d) and child.output_size not in (1, (1, 1)):
            setattr(module, name, AdaptiveAvgPool2dAsMatMul(child.output_size))
        else:
            replace_adaptive_pools(child)
    return module
