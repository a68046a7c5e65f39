"""ONNX export of classifiers and segmentors: onnxruntime (CPU) against PyTorch, fp16 graphs, bad input."""

import copy
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from onnx.reference import ReferenceEvaluator

from convnext.deploy import (
    ExportSpec,
    OnnxModel,
    check_spec,
    create_session,
    export_onnx,
    half_statistics_nodes,
    init_model,
    model_stride,
    statistics_nodes,
)
from convnext.exceptions import ConfigError
from convnext.models.layers import GRN

FP32_TOLERANCE = 1e-4
"""Largest |onnxruntime - PyTorch| of float32 logits."""

GRN_STD = 0.5
"""Spread of the random GRN ``gamma`` and ``beta`` (zero at init, which makes GRN the identity)."""

FP16_RELATIVE_TOLERANCE = 1e-2
"""Largest |fp16 graph - float32 PyTorch| as a fraction of the largest float32 logit."""

pytestmark = pytest.mark.usefixtures('one_thread')


def run_graph(path: Path, inputs: torch.Tensor) -> list[np.ndarray]:
    return create_session(path, threads=1).run(None, {'inputs': inputs.numpy()})


@pytest.fixture(scope='module')
def classifier(classifier_checkpoint: tuple[Path, Path]) -> torch.nn.Module:
    config, checkpoint = classifier_checkpoint
    return init_model(Config.fromfile(str(config)), str(checkpoint))


@pytest.fixture(scope='module')
def segmentor(segmentor_checkpoint: tuple[Path, Path]) -> torch.nn.Module:
    config, checkpoint = segmentor_checkpoint
    return init_model(Config.fromfile(str(config)), str(checkpoint))


def test_classifier_graph_matches_pytorch_for_any_batch_and_size(classifier: torch.nn.Module, tmp_path: Path) -> None:
    path = export_onnx(classifier, ExportSpec('classification', (64, 64), dynamic=True), tmp_path / 'cls.onnx')
    for shape in ((2, 3, 64, 64), (1, 3, 96, 64)):
        inputs = torch.randn(shape)
        with torch.no_grad():
            expected = classifier(inputs, mode='tensor').numpy()
        (logits,) = run_graph(path, inputs)
        assert logits.shape == expected.shape == (shape[0], 3)
        assert np.abs(logits - expected).max() <= FP32_TOLERANCE


def test_segmentor_graph_matches_mmseg_encode_decode(segmentor: torch.nn.Module, tmp_path: Path) -> None:
    path = export_onnx(segmentor, ExportSpec('segmentation', (64, 96)), tmp_path / 'seg.onnx')
    inputs = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = segmentor.encode_decode(inputs, [dict(img_shape=(64, 96), pad_shape=(64, 96))]).numpy()
    (logits,) = run_graph(path, inputs)
    assert logits.shape == expected.shape == (1, 5, 64, 96)
    assert np.abs(logits - expected).max() <= FP32_TOLERANCE


def test_runner_reads_images_like_the_mmseg_inferencer(
    segmentor: torch.nn.Module, segmentor_checkpoint: tuple[Path, Path], images: list[Path], tmp_path: Path
) -> None:
    from mmseg.apis import inference_model

    config, _ = segmentor_checkpoint
    cfg = Config.fromfile(str(config))
    path = export_onnx(segmentor, ExportSpec('segmentation', (128, 128), dynamic=True), tmp_path / 'seg.onnx')
    slide = cfg.copy()
    slide.model.test_cfg = dict(mode='slide', crop_size=(64, 64), stride=(48, 48))
    window = export_onnx(segmentor, ExportSpec('segmentation', (64, 64)), tmp_path / 'window.onnx')
    for test_cfg, graph in ((cfg, path), (slide, window)):
        segmentor.cfg = test_cfg
        segmentor.test_cfg = test_cfg.model.test_cfg
        for image in images:
            with DefaultScope.overwrite_default_scope('mmseg'):
                expected = inference_model(segmentor, str(image))
            predicted = OnnxModel(graph, test_cfg, threads=1)(image)
            assert np.abs(predicted['seg_logits'] - expected.seg_logits.data.numpy()).max() <= FP32_TOLERANCE
            assert (predicted['sem_seg'] == expected.pred_sem_seg.data[0].numpy()).mean() > 0.999
    with pytest.raises(
        ConfigError, match='takes only 128x128; mmseg runs it unpadded: export the segmentor with --dynamic'
    ):
        OnnxModel(export_onnx(segmentor, ExportSpec('segmentation', (128, 128)), tmp_path / 'static.onnx'), cfg)(
            images[1]
        )


def test_runner_reads_images_like_the_mmpretrain_inferencer(
    classifier: torch.nn.Module, classifier_checkpoint: tuple[Path, Path], images: list[Path], tmp_path: Path
) -> None:
    from mmpretrain.apis import ImageClassificationInferencer

    config, checkpoint = classifier_checkpoint
    cfg = Config.fromfile(str(config))
    path = export_onnx(classifier, ExportSpec('classification', (224, 224)), tmp_path / 'cls.onnx')
    runner = OnnxModel(path, cfg, threads=1)
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # its inferencer builds in the current scope
        inferencer = ImageClassificationInferencer(model=cfg, pretrained=str(checkpoint), device='cpu')
        expectations = [inferencer(str(image))[0] for image in images]
    for image, expected in zip(images, expectations, strict=True):
        predicted = runner(image)
        assert np.abs(predicted['scores'] - np.asarray(expected['pred_scores'])).max() <= FP32_TOLERANCE
        assert predicted['topk'][0] == expected['pred_label']


def test_fp16_graph_keeps_grn_and_layernorm_statistics_in_float32(classifier: torch.nn.Module, tmp_path: Path) -> None:
    path = export_onnx(classifier, ExportSpec('classification', (64, 64), fp16=True), tmp_path / 'cls16.onnx')
    graph = onnx.load(str(path))
    nodes = statistics_nodes(graph, classifier)
    # GRN's Gx = sqrt(sum over H, W of x^2) (models/layers.py grn): one ReduceSum and one Sqrt per GRN.
    assert {op for _, op, _ in nodes} >= {'ReduceSum', 'Sqrt', 'LayerNormalization'}
    num_grn = sum(isinstance(module, GRN) for module in classifier.modules())
    for statistic in ('ReduceSum', 'Sqrt'):
        assert sum(op == statistic and '/grn/' in name for name, op, _ in nodes) == num_grn > 0
    assert half_statistics_nodes(graph, classifier) == []
    assert any(node.op_type == 'Conv' for node in graph.graph.node)
    inputs = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = classifier(inputs, mode='tensor').numpy()
    (logits,) = run_graph(path, inputs)
    assert np.abs(logits - expected).max() <= FP16_RELATIVE_TOLERANCE * np.abs(expected).max()


def overflowing_activations() -> torch.Tensor:
    """``(2, 56, 56, 64)`` activations of scale 30 with four channels 50x larger: a naive fp16 GRN gives NaN."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 56, 56, 64, generator=generator).abs() * 30
    x[..., :4] *= 50
    return x


class NaiveHalfGRN(torch.nn.Module):
    """GRN computed in the input's dtype, as the official ``GRN`` and mmpretrain's are."""

    def __init__(self, grn: GRN) -> None:
        super().__init__()
        self.grn = grn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.linalg.vector_norm(x, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + self.grn.eps)
        return self.grn.gamma * (x * nx) + self.grn.beta + x


class HalfGraph(torch.nn.Module):
    """float32 in and out, ``module`` in float16."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.half()).float()


def test_fp16_grn_graph_stays_finite_where_a_naive_one_overflows(tmp_path: Path) -> None:
    grn = GRN(64)
    with torch.no_grad():
        grn.gamma.normal_(0, GRN_STD)
        grn.beta.normal_(0, GRN_STD)
    x = overflowing_activations()
    with torch.no_grad():
        expected = grn(x).numpy()
        assert not torch.isfinite(NaiveHalfGRN(grn).half()(x.half())).all()  # the input does provoke the overflow
    outputs = {}
    for name, module in (('ours', grn), ('naive', NaiveHalfGRN(grn))):
        graph = HalfGraph(copy.deepcopy(module))
        path = tmp_path / f'{name}.onnx'
        torch.onnx.export(graph, (x,), str(path), dynamo=False, opset_version=17, input_names=['inputs'])
        # onnx's reference evaluator computes float16 ops in float16, as GPU runtimes do (onnxruntime's
        # CPU provider runs float16 reductions in float32 and would hide the overflow).
        outputs[name] = ReferenceEvaluator(str(path)).run(None, {'inputs': x.numpy()})[0]
        outputs[f'{name}_ort'] = run_graph(path, x)[0]
    assert not np.isfinite(outputs['naive']).all()
    for key in ('ours', 'ours_ort'):
        assert np.isfinite(outputs[key]).all()
        assert np.abs(outputs[key] - expected).max() <= FP16_RELATIVE_TOLERANCE * np.abs(expected).max()


def test_export_refuses_sides_not_divisible_by_the_stride(classifier: torch.nn.Module) -> None:
    assert model_stride(classifier) == 32
    with pytest.raises(ConfigError, match='multiples of the model stride 32 .*e.g. 128 96'):
        check_spec(ExportSpec('classification', (100, 96)), model_stride(classifier))
    # A detector graph takes any height and width (mmdet pads each image only to a multiple of 32).
    check_spec(ExportSpec('detection', (96, 96), dynamic=True), 32)
    assert ExportSpec('detection', (96, 96)).dynamic_size and not ExportSpec('classification', (96, 96)).dynamic_size
