"""Mask R-CNN and Cascade Mask R-CNN test paths as traceable modules for ONNX export.

mmdet's ``predict`` cannot be traced as it is: mmcv's RoIAlign and NMS are
compiled custom ops with no ONNX form outside mmdeploy, the RoI extractor
and the heads branch in Python on how many boxes survive, and Soft-NMS is a
sequential loop. :class:`TwoStageGraph` runs the same submodules (backbone,
neck, RPN head, box and mask heads, their box coders and prior generators) and
re-states only the glue, after mmdet 3.3's ``RPNHead._predict_by_feat_single``,
``StandardRoIHead.predict`` / ``CascadeRoIHead.predict``,
``BBoxHead._predict_by_feat_single`` and ``multiclass_nms``:

- RoIAlign is torchvision's (``aligned=True``, ``sampling_ratio`` and output
  size from the config), the same algorithm as mmcv's, exported as ONNX
  ``RoiAlign`` (opset 16, ``half_pixel``); each RoI is pooled on every level
  and the level that mmdet's ``map_roi_levels`` picks is kept;
- NMS is torchvision's ``nms`` with mmcv's per-class offset trick, exported as ONNX ``NonMaxSuppression``;
  a config's ``soft_nms`` becomes hard NMS at the same IoU threshold (Soft-NMS
  has no ONNX operator), which :func:`hard_nms_config` reports.

Inputs: the normalised image padded as mmdet's data preprocessor pads it
(``pad_size_divisor``), ``(1, 3, H, W)`` with height and width dynamic, and
``image_shape``, the ``(2,)`` int64 height and width of the resized image
inside the padding (mmdet's ``img_shape``): proposals and boxes are clipped to
it, as mmdet clips them, rather than to the padded input.

Outputs (one image, boxes in the coordinates of the resized image): ``boxes``
``(K, 4)``, ``scores`` ``(K,)``, ``labels`` ``(K,)`` int64 and ``masks``
``(K, M, M)`` mask probabilities of each box's class (M = 28), which the runner
pastes into the image as mmdet's ``FCNMaskHead`` does.
"""

import copy

import torch
from mmdet.models.task_modules.coders.delta_xywh_bbox_coder import delta2bbox
from torch import nn
from torchvision.ops import nms, roi_align

SUPPORTED_NMS = ('nms', 'soft_nms')
"""NMS types of the configs; both export as hard NMS at their IoU threshold."""


def hard_nms_config(nms_cfg: dict, where: str) -> tuple[float, str | None]:
    """The IoU threshold of an NMS config and a note when Soft-NMS becomes hard NMS.

    Raises:
        ValueError: An NMS type other than :data:`SUPPORTED_NMS`.
    """
    nms_type = nms_cfg.get('type', 'nms')
    if nms_type not in SUPPORTED_NMS:
        raise ValueError(f'{where}.type is {nms_type!r}; the ONNX export supports {SUPPORTED_NMS}')
    note = None
    if nms_type == 'soft_nms':
        note = f'{where}: soft_nms has no ONNX operator; exported as hard NMS at IoU {nms_cfg["iou_threshold"]}'
    return float(nms_cfg['iou_threshold']), note


def hard_nms_model(detector: nn.Module) -> nn.Module:
    """A copy of ``detector`` whose R-CNN NMS is hard NMS at the config's IoU: what the exported graph computes.

    The reference that an exported graph is compared with (the graph turns
    Soft-NMS into hard NMS, see :func:`hard_nms_config`); ``detector`` is not changed.
    """
    reference = copy.deepcopy(detector)
    nms_cfg = reference.roi_head.test_cfg.nms
    reference.roi_head.test_cfg.nms = type(nms_cfg)(type='nms', iou_threshold=nms_cfg['iou_threshold'])
    return reference


class TwoStageGraph(nn.Module):
    """The test path of an mmdet two-stage detector with masks, for one image.

    Args:
        detector: A built mmdet ``TwoStageDetector`` with a ``StandardRoIHead``
            or ``CascadeRoIHead`` and mask heads, in eval mode.
        half: Run the backbone and neck in float16 (the heads and the box
            arithmetic stay float32: fp16 loses whole pixels on large images).
            Defaults to False.
    """

    def __init__(self, detector: nn.Module, half: bool = False) -> None:
        super().__init__()
        self.detector = detector
        self.half_features = half
        if half:
            detector.backbone.half()
            if detector.with_neck:
                detector.neck.half()
        self.roi_head = detector.roi_head
        self.cascade = hasattr(self.roi_head, 'num_stages')
        self.num_stages = self.roi_head.num_stages if self.cascade else 1
        rpn_cfg, rcnn_cfg = detector.test_cfg.rpn, detector.test_cfg.rcnn
        self.rpn_iou, _ = hard_nms_config(rpn_cfg.nms, 'model.test_cfg.rpn.nms')
        self.rcnn_iou, self.nms_note = hard_nms_config(rcnn_cfg.nms, 'model.test_cfg.rcnn.nms')
        self.rpn_cfg, self.rcnn_cfg = rpn_cfg, rcnn_cfg

    def forward(self, inputs: torch.Tensor, image_shape: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Detects in ``inputs`` ``(1, 3, H, W)`` (normalised, padded); returns boxes, scores, labels, masks.

        Args:
            inputs: The padded image.
            image_shape: ``(2,)`` height and width of the image inside the padding; boxes are clipped to it.
        """
        feats = self.features(inputs)
        proposals = self.proposals(feats, image_shape)
        rois = _to_rois(proposals)
        scores, box_deltas, rois = self.refine(feats, rois, image_shape)
        boxes, scores, labels = self.detections(rois, scores, box_deltas, image_shape)
        masks = self.masks(feats, boxes, labels)
        return boxes, scores, labels, masks

    def features(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Backbone and neck feature maps, float32."""
        if not self.half_features:
            return self.detector.extract_feat(inputs)
        return tuple(feat.float() for feat in self.detector.extract_feat(inputs.half()))

    def proposals(self, feats: tuple[torch.Tensor, ...], image_shape: torch.Tensor) -> torch.Tensor:
        """RPN proposals ``(P, 4)``: top ``nms_pre`` per level, decoded and clipped, NMS per level, ``max_per_img``."""
        head = self.detector.rpn_head
        cls_scores, box_deltas = head(feats)
        sizes = [score.shape[-2:] for score in cls_scores]
        priors = head.prior_generator.grid_priors(sizes, dtype=feats[0].dtype, device=feats[0].device)
        nms_pre = self.rpn_cfg.get('nms_pre', -1)
        all_scores, all_deltas, all_priors, levels = [], [], [], []
        for level, (score, delta, prior) in enumerate(zip(cls_scores, box_deltas, priors, strict=True)):
            score = score[0].permute(1, 2, 0).reshape(-1).sigmoid()  # use_sigmoid_cls (mmdet RPNHead default)
            delta = delta[0].permute(1, 2, 0).reshape(-1, 4)
            if nms_pre > 0:
                score, keep = score.topk(_at_most(nms_pre, score.shape[0]))
                delta, prior = delta[keep], prior[keep]
            all_scores.append(score)
            all_deltas.append(delta)
            all_priors.append(prior)
            levels.append(torch.full_like(score, level, dtype=torch.int64))
        boxes = _decode(head.bbox_coder, torch.cat(all_priors), torch.cat(all_deltas), image_shape)
        scores, levels = torch.cat(all_scores), torch.cat(levels)
        if self.rpn_cfg.get('min_bbox_size', -1) >= 0:
            size = self.rpn_cfg.get('min_bbox_size', 0)
            valid = torch.nonzero(
                (boxes[:, 2] - boxes[:, 0] > size) & (boxes[:, 3] - boxes[:, 1] > size), as_tuple=False
            ).squeeze(1)
            boxes, scores, levels = boxes[valid], scores[valid], levels[valid]
        keep = batched_nms(boxes, scores, levels, self.rpn_iou)[: self.rpn_cfg.max_per_img]
        return boxes[keep]

    def refine(
        self, feats: tuple[torch.Tensor, ...], rois: torch.Tensor, image_shape: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Box-head class logits (averaged over cascade stages), last-stage deltas and the RoIs they refine."""
        stage_scores = []
        for stage in range(self.num_stages):
            head = self.roi_head.bbox_head[stage] if self.cascade else self.roi_head.bbox_head
            extractor = self.roi_head.bbox_roi_extractor[stage] if self.cascade else self.roi_head.bbox_roi_extractor
            cls_score, box_delta = head(extract_roi_features(extractor, feats, rois))
            stage_scores.append(cls_score)
            if stage < self.num_stages - 1:  # CascadeRoIHead._refine_roi
                labels = cls_score[:, :-1].argmax(dim=1)
                boxes = _decode(head.bbox_coder, rois[:, 1:], _class_deltas(head, box_delta, labels), image_shape)
                rois = torch.cat([rois[:, :1], boxes], dim=1)
        return sum(stage_scores) / len(stage_scores), box_delta, rois

    def detections(
        self, rois: torch.Tensor, cls_score: torch.Tensor, box_delta: torch.Tensor, image_shape: torch.Tensor
    ) -> tuple:
        """``multiclass_nms`` of the decoded boxes: score threshold, class-wise NMS, ``max_per_img``."""
        head = self.roi_head.bbox_head[-1] if self.cascade else self.roi_head.bbox_head
        scores = cls_score.softmax(dim=-1)[:, :-1]
        num_rois, num_classes = scores.shape
        deltas = box_delta.reshape(-1, 4)
        priors = rois[:, 1:]
        if not head.reg_class_agnostic:
            priors = priors.repeat_interleave(num_classes, dim=0)
        boxes = _decode(head.bbox_coder, priors, deltas, image_shape).reshape(num_rois, -1, 4)
        boxes = boxes.expand(num_rois, num_classes, 4).reshape(-1, 4)
        labels = torch.arange(num_classes, device=scores.device).expand(num_rois, num_classes).reshape(-1)
        scores = scores.reshape(-1)
        valid = torch.nonzero(scores > self.rcnn_cfg.score_thr, as_tuple=False).squeeze(1)
        boxes, scores, labels = boxes[valid], scores[valid], labels[valid]
        keep = batched_nms(boxes, scores, labels, self.rcnn_iou)[: self.rcnn_cfg.max_per_img]
        return boxes[keep], scores[keep], labels[keep]

    def masks(self, feats: tuple[torch.Tensor, ...], boxes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mask probabilities ``(K, M, M)`` of each box's class (averaged over cascade stages)."""
        rois = _to_rois(boxes)
        probabilities = []
        for stage in range(self.num_stages):
            head = self.roi_head.mask_head[stage] if self.cascade else self.roi_head.mask_head
            extractor = self.roi_head.mask_roi_extractor[stage] if self.cascade else self.roi_head.mask_roi_extractor
            logits = head(extract_roi_features(extractor, feats, rois))
            probabilities.append(logits.sigmoid())  # CascadeRoIHead.predict_mask: merge_aug_masks of sigmoids
        masks = sum(probabilities) / len(probabilities)
        if head.class_agnostic:
            return masks[:, 0]
        index = labels.reshape(-1, 1, 1, 1).expand(-1, 1, *masks.shape[-2:])
        return masks.gather(1, index)[:, 0]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou: float) -> torch.Tensor:
    """Indices kept by NMS within each group, by decreasing score: mmcv ``batched_nms``'s offset trick.

    Each group's boxes are shifted by ``group * (largest coordinate + 1)``, as
    mmcv does, so that boxes of different groups never overlap; unlike
    torchvision's ``batched_nms`` nothing here asks how many boxes there are,
    which tracing would freeze. No boxes: nothing kept.
    """
    largest = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
    offsets = groups.to(boxes.dtype).unsqueeze(1) * (largest + 1)
    return nms(boxes + offsets, scores, iou)


def _at_most(count: int, size: int | torch.Tensor) -> int | torch.Tensor:
    """``min(count, size)``; in a trace ``size`` is a tensor and so is the result, so that the exported
    ``TopK`` follows the input's size instead of freezing the traced image's."""
    if isinstance(size, torch.Tensor):
        return torch.clamp(size, max=count)
    return min(count, size)


def extract_roi_features(extractor: nn.Module, feats: tuple[torch.Tensor, ...], rois: torch.Tensor) -> torch.Tensor:
    """``SingleRoIExtractor.forward`` with torchvision's RoIAlign and without data-dependent branches.

    Args:
        extractor: mmdet ``SingleRoIExtractor`` whose ``roi_layers`` are mmcv ``RoIAlign``.
        feats: Feature maps ``(1, C, H_l, W_l)`` from the finest level.
        rois: ``(K, 5)`` rows ``(batch index, x1, y1, x2, y2)``.

    Returns:
        RoI features ``(K, C, S, S)``, each pooled from the level ``map_roi_levels`` gives its size.
    """
    num_levels = extractor.num_inputs
    levels = extractor.map_roi_levels(rois, num_levels)
    pooled = None
    for level, layer in enumerate(extractor.roi_layers):
        features = roi_align(
            feats[level],
            rois,
            output_size=layer.output_size,
            spatial_scale=layer.spatial_scale,
            sampling_ratio=layer.sampling_ratio,
            aligned=layer.aligned,
        )
        selected = (levels == level).to(features.dtype).reshape(-1, 1, 1, 1)
        pooled = features * selected if pooled is None else pooled + features * selected
    return pooled


def _to_rois(boxes: torch.Tensor) -> torch.Tensor:
    """``bbox2roi`` for one image: ``(K, 4)`` boxes to ``(K, 5)`` rows with batch index 0."""
    return torch.cat([boxes.new_zeros(boxes.shape[0], 1), boxes], dim=1)


def _class_deltas(head: nn.Module, deltas: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``BBoxHead.regress_by_class``'s choice of each RoI's deltas ``(K, 4)`` for its label."""
    if head.reg_class_agnostic:
        return deltas
    index = (labels * 4).unsqueeze(1) + torch.arange(4, device=labels.device)
    return deltas.gather(1, index)


def _decode(coder: nn.Module, priors: torch.Tensor, deltas: torch.Tensor, image_shape: torch.Tensor) -> torch.Tensor:
    """``DeltaXYWHBBoxCoder.decode(priors, deltas, max_shape=img_shape)`` through mmdet's ``delta2bbox``.

    The coder itself switches to a batched form in export, and ``delta2bbox``
    clips to a Python ``max_shape``; the clipping to the tensor ``image_shape``
    is done here instead, with the same bounds (``0 <= x <= W``, ``0 <= y <= H``).
    """
    boxes = delta2bbox(
        priors,
        deltas,
        coder.means,
        coder.stds,
        max_shape=None,
        add_ctr_clamp=coder.add_ctr_clamp,
        ctr_clamp=coder.ctr_clamp,
    )
    return clip_boxes(boxes, image_shape) if coder.clip_border else boxes


def clip_boxes(boxes: torch.Tensor, image_shape: torch.Tensor) -> torch.Tensor:
    """``boxes`` ``(..., 4)`` (x1, y1, x2, y2) clipped to ``[0, W] x [0, H]`` of ``image_shape`` ``(2,)`` (H, W)."""
    height, width = image_shape.to(boxes.dtype).unbind()
    upper = torch.stack([width, height, width, height])
    return torch.minimum(boxes.clamp(min=0), upper)
