"""Registries of the ``convnext`` scope.

Each registry is a child of the matching mmengine root registry, so a config
of any OpenMMLab 2.0 host (mmdet, mmseg, mmpretrain) can name our modules with
the scope prefix, e.g. ``type='convnext.ConvNeXt'``: mmengine imports
``convnext.registry`` when it meets the prefix, and ``locations`` imports the
modules that register themselves. No ``custom_imports`` are needed.
"""

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

SCOPE = 'convnext'

# FCMAE imports mmpretrain: its package is a location of its own, so the backbone
# and the layers need only torch and mmengine.
MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope=SCOPE, locations=['convnext.models', 'convnext.models.selfsup']
)
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope=SCOPE, locations=['convnext.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope=SCOPE,
    locations=['convnext.engine'],
)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMENGINE_WEIGHT_INITIALIZERS,
    scope=SCOPE,
    locations=['convnext.models.pretrained_head'],
)

# Preemption-safe training (convnext.engine): the Runner, its train loops and hook, and the
# dataset wrapper and batch sampler that make a resumed run regenerate the same samples.
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope=SCOPE, locations=['convnext.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope=SCOPE, locations=['convnext.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope=SCOPE, locations=['convnext.engine'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope=SCOPE, locations=['convnext.engine'])
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS, scope=SCOPE, locations=['convnext.engine'])
