"""Parameters and FLOPs of an mmdet, mmsegmentation or mmpretrain model from its config.

FLOPs are multiply-adds (one fused multiply-add counts once), as in the
ConvNeXt papers, counted by ``mmengine.analysis.get_model_complexity_info``
with one forward pass in eval mode on a random ``(1, 3, H, W)`` image; no
weights are loaded. Without ``--shape`` the image is the config's test input
(:func:`convnext.launch.analysis_shape`, as ``tools/deployment/export_onnx.py``
reads it): the centre crop of a classifier (224 x 224), the test scale of a
whole-image segmentor (512 x 2048 on ADE20K), and the papers' 800 x 1280 for
a detector.

What is counted follows the tools the papers used:

- two-stage detectors (mmdet 2.x ``forward_dummy``): backbone, neck, the RPN
  head's convolutions, the box head(s) on 1000 proposals and the mask head(s)
  on the first 100 of them, every cascade stage on the same proposals;
- segmentors: backbone and decode head (``mode='tensor'``, no auxiliary head);
- classifiers and other models: ``model(inputs, mode='tensor')``.

Measured against the ConvNeXt paper (Table 3 at 1280 x 800, Table 4 at 2048 x 512):
Mask R-CNN T 262.3G (paper 262G); Cascade T 740.8G (741G), S 827.3G (827G),
B 964.6G (964G), L 1354.7G (1354G), XL 1899.1G (1898G); UperNet T 939.7G (939G).

Example:
    python tools/analysis/get_flops.py configs/cascade_mask_rcnn_convnext_t_3x.py
    python tools/analysis/get_flops.py configs/upernet_convnext_t_160k_ade20k_512.py --shape 512 2048
"""

import argparse
import sys
import time

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from torch import nn

from convnext.exceptions import ConfigError
from convnext.launch import (
    ANALYSIS_SHAPE_HELP,
    adapt_cfg_to_device,
    add_cfg_options_args,
    add_shape_arg,
    analysis_shape,
    exit_on_config_error,
    load_config,
    parse_shape,
)

DUMMY_PROPOSALS = 1000
"""Proposals fed to the box heads (mmdet 2.x ``forward_dummy``)."""

DUMMY_MASK_ROIS = 100
"""Proposals fed to the mask heads (mmdet 2.x ``forward_dummy``)."""

GIGA, MEGA = 1e9, 1e6


class TwoStageDetectorProbe(nn.Module):
    """The mmdet 2.x ``forward_dummy`` of a two-stage detector, for FLOPs counting.

    Args:
        detector: An mmdet ``TwoStageDetector`` (e.g. Mask R-CNN, Cascade Mask R-CNN).
        image_hw: Input height and width; the fixed random proposals lie inside.
        num_proposals: Proposals for the box heads. Defaults to 1000.
        num_mask_rois: Leading proposals for the mask heads. Defaults to 100.
    """

    def __init__(
        self,
        detector: nn.Module,
        image_hw: tuple[int, int],
        num_proposals: int = DUMMY_PROPOSALS,
        num_mask_rois: int = DUMMY_MASK_ROIS,
    ) -> None:
        super().__init__()
        self.detector = detector
        self.num_mask_rois = num_mask_rois
        self.register_buffer('rois', self._random_rois(image_hw, num_proposals), persistent=False)

    @staticmethod
    def _random_rois(image_hw: tuple[int, int], num: int) -> torch.Tensor:
        """``(num, 5)`` RoIs ``(batch index 0, x1, y1, x2, y2)`` inside the image, fixed seed."""
        generator = torch.Generator().manual_seed(0)
        height, width = image_hw
        corners = torch.rand(num, 2, 2, generator=generator) * torch.tensor([width, height])
        x1y1, x2y2 = corners.min(dim=1).values, corners.max(dim=1).values
        return torch.cat([torch.zeros(num, 1), x1y1, x2y2 + 1], dim=1)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Maps ``(1, 3, H, W)`` images to the raw head outputs."""
        detector = self.detector
        feats = detector.extract_feat(inputs)
        cls_scores, bbox_preds = detector.rpn_head(feats)
        outs = (*cls_scores, *bbox_preds)
        roi_head = detector.roi_head
        stages = range(getattr(roi_head, 'num_stages', 1))
        staged = hasattr(roi_head, 'num_stages')
        for stage in stages:
            args = (stage, feats) if staged else (feats,)
            if roi_head.with_bbox:
                bbox = roi_head._bbox_forward(*args, self.rois)
                outs += (bbox['cls_score'], bbox['bbox_pred'])
            if roi_head.with_mask:
                outs += (roi_head._mask_forward(*args, self.rois[: self.num_mask_rois])['mask_preds'],)
        return outs


class TensorModeProbe(nn.Module):
    """``model(inputs, mode='tensor')`` of any OpenMMLab 2.0 model, for FLOPs counting.

    Args:
        model: An mmengine ``BaseModel`` (segmentor, classifier, single-stage detector).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> object:
        """Maps ``(N, 3, H, W)`` images to the model's raw outputs."""
        return self.model(inputs, mode='tensor')


def build_model(cfg: Config) -> nn.Module:
    """Builds ``cfg.model`` in its host's scope, on this machine's norm layers, in eval mode.

    No checkpoint is loaded (``init_weights`` is not called).
    """
    scope = cfg.get('default_scope')
    if scope is None:
        raise ConfigError('the config has no default_scope (expected mmdet, mmseg or mmpretrain)')
    init_default_scope(scope)
    cfg, _ = adapt_cfg_to_device(cfg, distributed=False)
    return MODELS.build(cfg.model).eval()


def flops_probe(model: nn.Module, image_hw: tuple[int, int]) -> nn.Module:
    """The module whose forward is counted: :class:`TwoStageDetectorProbe` or :class:`TensorModeProbe`."""
    if hasattr(model, 'rpn_head') and hasattr(model, 'roi_head'):
        return TwoStageDetectorProbe(model, image_hw)
    return TensorModeProbe(model)


def count_complexity(cfg: Config, height: int, width: int) -> dict[str, float]:
    """Counts the model's parameters and FLOPs on a ``(1, 3, height, width)`` image.

    Args:
        cfg: A model config of mmdet, mmseg or mmpretrain (with ``default_scope``).
        height: Input height in pixels.
        width: Input width in pixels.

    Returns:
        ``{'flops': multiply-adds, 'params': parameters, 'seconds': counting time}``.
    """
    height, width = parse_shape((height, width))
    start = time.perf_counter()
    probe = flops_probe(build_model(cfg), (height, width))
    inputs = torch.rand(1, 3, height, width)
    with torch.no_grad():
        info = get_model_complexity_info(probe, inputs=(inputs,), show_table=False, show_arch=False)
    params = sum(p.numel() for p in probe.parameters())
    return {'flops': float(info['flops']), 'params': float(params), 'seconds': time.perf_counter() - start}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description='Count the parameters and FLOPs (multiply-adds) of a model')
    parser.add_argument('config', help='config file (mmdet, mmseg or mmpretrain)')
    add_shape_arg(parser, None, ANALYSIS_SHAPE_HELP)
    add_cfg_options_args(parser)
    return parser.parse_args(argv)


@exit_on_config_error
def main(argv: list[str] | None = None) -> int:
    """Prints the input shape, FLOPs and parameters; returns the exit code (2 with one line on bad input)."""
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.strict_cfg_options)
    height, width = parse_shape(args.shape) if args.shape else analysis_shape(cfg)
    result = count_complexity(cfg, height, width)
    print(f'Config: {args.config}')
    print(f'Input shape: (1, 3, {height}, {width})  (H x W = {height} x {width})')
    print(f'FLOPs: {result["flops"] / GIGA:.1f} G (multiply-adds)')
    print(f'Params: {result["params"] / MEGA:.2f} M')
    print(f'Counted in {result["seconds"]:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
