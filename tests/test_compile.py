"""convnext.compile: the CPU inductor options, for compile_model and for configs' ``compile``."""

import pytest
import torch

from convnext.compile import CPU_INDUCTOR_OPTIONS, compile_options


@pytest.mark.parametrize('compile_cfg', [None, False])
def test_nothing_compiled_stays_uncompiled(compile_cfg: bool | None) -> None:
    assert compile_options(compile_cfg, 'cpu') is None


def test_cpu_gets_both_options() -> None:
    assert compile_options(True, 'cpu') == {'options': CPU_INDUCTOR_OPTIONS}
    assert CPU_INDUCTOR_OPTIONS == {'force_layout_optimization': True, 'cpp_wrapper': True}


def test_users_options_win_and_their_dict_is_left_alone() -> None:
    user = {'dynamic': False, 'options': {'cpp_wrapper': False, 'freezing': True}}
    kwargs = compile_options(user, torch.device('cpu'))
    assert kwargs == {
        'dynamic': False,
        'options': {'force_layout_optimization': True, 'cpp_wrapper': False, 'freezing': True},
    }
    assert user == {'dynamic': False, 'options': {'cpp_wrapper': False, 'freezing': True}}


def test_a_mode_becomes_its_options_because_torch_refuses_mode_with_options() -> None:
    kwargs = compile_options({'mode': 'max-autotune'}, 'cpu')
    assert kwargs == {'options': {**CPU_INDUCTOR_OPTIONS, **torch._inductor.list_mode_options('max-autotune')}}
    assert kwargs['options']['max_autotune'] is True
    torch.compile(torch.nn.Linear(2, 2), **kwargs)  # raises "Either mode or options ..." if both were passed
    both = {'mode': 'max-autotune', 'options': {'cpp_wrapper': False}}
    assert compile_options(both, 'cpu') == both  # the user's own conflict: torch names it


@pytest.mark.parametrize(('compile_cfg', 'device'), [(True, 'cuda'), ({'backend': 'aot_eager'}, 'cpu')])
def test_other_devices_and_backends_are_unchanged(compile_cfg: bool | dict, device: str) -> None:
    expected = {} if compile_cfg is True else compile_cfg
    assert compile_options(compile_cfg, device) == expected


@pytest.mark.parametrize(
    ('compile_cfg', 'message'),
    [
        ('yes', r"^compile: expected True, False or a dict .* got 'yes'"),
        ({'options': 1}, r'^compile\.options: .* got 1'),
    ],
)
def test_bad_settings_name_the_key(compile_cfg: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        compile_options(compile_cfg, 'cpu')
