"""The mim model index (model-index.yml, configs/metafiles/*.yml) against the files on disk."""

from pathlib import Path

import pytest
import yaml
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / 'model-index.yml'
MODEL_KEYS = ('Name', 'In Collection', 'Metadata', 'Results', 'Weights', 'Config')
METADATA_KEYS = ('Training Data', 'Input Size', 'FLOPs', 'Parameters', 'Source')
COLLECTION_KEYS = ('Name', 'Metadata', 'Paper', 'README', 'Code')
TASKS = ('Image Classification', 'Object Detection', 'Instance Segmentation', 'Semantic Segmentation')
OFFICIAL_WEIGHTS = 'https://dl.fbaipublicfiles.com/convnext/'
FAMILIES = ('convnext', 'convnext_v2', 'fcmae', 'mask_rcnn', 'cascade_mask_rcnn', 'upernet')
PARAMS_CHECKED = ('convnextv2_a_fcmae-ft_in1k', 'convnext_t_in22k-ft_30e_in1k')
"""Configs whose listed parameter count is checked against the built model (small enough to build quickly)."""


def metafiles() -> dict[Path, dict]:
    """Every metafile the index imports, parsed."""
    imports = yaml.safe_load(INDEX.read_text())['Import']
    return {ROOT / path: yaml.safe_load((ROOT / path).read_text()) for path in imports}


def models() -> list[dict]:
    return [model for meta in metafiles().values() for model in meta['Models']]


def test_index_imports_one_metafile_per_family() -> None:
    assert sorted(path.stem for path in metafiles()) == sorted(FAMILIES)


def test_every_config_is_listed_once_and_every_listed_config_exists() -> None:
    """Every config in ``configs/`` is a recipe of the model zoo (the demos write their own leaves: tools/demo.py)."""
    listed = [model['Config'] for model in models()]
    on_disk = sorted(f'configs/{path.name}' for path in (ROOT / 'configs').glob('*.py'))
    assert sorted(listed) == on_disk
    assert len({model['Name'] for model in models()}) == len(listed)


@pytest.mark.parametrize('path', sorted(metafiles()), ids=lambda path: path.stem)
def test_entries_have_the_required_fields(path: Path) -> None:
    meta = metafiles()[path]
    collections = {collection['Name']: collection for collection in meta['Collections']}
    for collection in collections.values():
        assert all(key in collection for key in COLLECTION_KEYS), collection
        assert collection['Paper']['URL'].startswith('https://arxiv.org/abs/')
        assert (ROOT / collection['README']).is_file()
    for model in meta['Models']:
        assert all(key in model for key in MODEL_KEYS), model
        assert model['In Collection'] in collections
        assert model['Name'] == Path(model['Config']).stem
        metadata = model['Metadata']
        assert all(key in metadata for key in METADATA_KEYS), model['Name']
        assert isinstance(metadata['FLOPs'], int) and metadata['FLOPs'] > 0
        assert isinstance(metadata['Parameters'], int) and metadata['Parameters'] > 0
        assert model['Weights'] is None or model['Weights'].startswith(OFFICIAL_WEIGHTS)
        for result in model['Results'] or []:
            assert result['Task'] in TASKS and result['Dataset']
            assert result['Metrics'] is None or all(0 < value < 100 for value in result['Metrics'].values())


@pytest.mark.parametrize('name', PARAMS_CHECKED)
def test_listed_parameters_are_those_of_the_built_model(name: str) -> None:
    model_entry = next(model for model in models() if model['Name'] == name)
    cfg = Config.fromfile(str(ROOT / model_entry['Config']))
    cfg.model.backbone.init_cfg = None
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) == model_entry['Metadata']['Parameters']
