"""How the configs inherit: shallow chains of our own bases, each value set in one place.

A leaf in ``configs/`` reaches at most :data:`MAX_DEPTH` levels of our own bases (``configs/_base_/``); the
hosts' bases (``mmdet::``, ``mmseg::``, ``mmpretrain::``) do not count. Along one leaf's chain no key is set by more
than :data:`MAX_SETTERS` of our files (a base's value and one leaf or base that states what differs), no file
removes (``None`` or ``[]``) what one of our bases set, and ``_delete_=True`` only replaces what a host set.

The files are read as Python syntax, not executed: every ``name = dict(...)`` at the top of a file sets the key
paths below ``name``; a local name or a ``{{_base_.name}}`` that one of our bases defines stands for the paths
that name sets, so ``model = dict(backbone={{_base_.convnext_backbone}})`` sets ``model.backbone.*``.
"""

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
BASE_KEY = '_base_'
DELETE_KEY = '_delete_'
HOST_SCOPE = '::'
"""``mmdet::``, ``mmseg::`` and ``mmpretrain::`` name the hosts' bases."""

MAX_DEPTH = 3
"""Levels of our own bases a leaf may reach: e.g. leaf -> model base -> its parent -> ``weights.py``."""

MAX_SETTERS = 2
"""Our files that may set one key along a chain: the base that owns it and one that overrides it."""

VALUE = 'value'
REMOVED = 'removed'
DELETE = 'delete'
"""What a file does at a key path: sets a value, removes it (``None`` or ``[]``), or sets ``_delete_=True`` there."""

KeyPath = tuple[str, ...]
Settings = dict[KeyPath, str]


def _leaves() -> list[Path]:
    return sorted(CONFIG_DIR.glob('*.py'))


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding='utf-8'), filename=str(path))


@cache
def _own_bases(path: Path) -> tuple[Path, ...]:
    """Our own bases named in ``path``'s ``_base_`` (the hosts' are left out), resolved to files."""
    for node in _tree(path).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == BASE_KEY for t in node.targets):
            entries = ast.literal_eval(node.value)
            entries = [entries] if isinstance(entries, str) else entries
            return tuple((path.parent / entry).resolve() for entry in entries if HOST_SCOPE not in entry)
    return ()


@cache
def _depth(path: Path) -> int:
    return max((1 + _depth(base) for base in _own_bases(path)), default=0)


@cache
def _ancestors(path: Path) -> frozenset[Path]:
    found: set[Path] = set()
    for base in _own_bases(path):
        found |= {base} | _ancestors(base)
    return frozenset(found)


def _base_reference(node: ast.expr) -> KeyPath | None:
    """The key path of ``{{_base_.a.b}}`` (Python reads it as a set of a set of an attribute), else None."""
    if not (isinstance(node, ast.Set) and len(node.elts) == 1 and isinstance(node.elts[0], ast.Set)):
        return None
    inner = node.elts[0].elts[0]
    names: list[str] = []
    while isinstance(inner, ast.Attribute):
        names.insert(0, inner.attr)
        inner = inner.value
    return tuple(names) if isinstance(inner, ast.Name) and inner.id == BASE_KEY else None


def _below(settings: Settings, prefix: KeyPath) -> Settings:
    return {path[len(prefix) :]: what for path, what in settings.items() if path[: len(prefix)] == prefix}


class _Reader:
    """Collects the key paths one file sets, expanding local names and our bases' ``{{_base_.x}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.settings: Settings = {}

    def read(self) -> Settings:
        for node in _tree(self.path).body:
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id != BASE_KEY and not target.id.startswith('__'):
                    self._drop((target.id,))
                    self._walk(node.value, (target.id,))
        return self.settings

    def _drop(self, prefix: KeyPath) -> None:
        for path in list(_below(self.settings, prefix)):
            del self.settings[prefix + path]

    def _expand(self, settings: Settings, prefix: KeyPath) -> None:
        self.settings.update({prefix + path: what for path, what in settings.items()})

    def _walk(self, node: ast.expr, prefix: KeyPath) -> None:
        reference = _base_reference(node)
        if reference is not None:
            self._expand(_defined_by_bases(self.path, reference) or {(): VALUE}, prefix)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict':
            for argument in node.args:
                self._walk(argument, prefix)
            for keyword in node.keywords:
                self._keyword(keyword, prefix)
        elif isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys):
            for key, value in zip(node.keys, node.values, strict=True):
                self._walk(value, (*prefix, str(key.value)))
        elif isinstance(node, ast.Name) and _below(self.settings, (node.id,)):
            self._expand(_below(self.settings, (node.id,)), prefix)
        else:
            empty = isinstance(node, ast.List) and not node.elts
            removed = empty or (isinstance(node, ast.Constant) and node.value is None)
            self.settings[prefix] = REMOVED if removed else VALUE

    def _keyword(self, keyword: ast.keyword, prefix: KeyPath) -> None:
        if keyword.arg is None:
            self._walk(keyword.value, prefix)
        elif keyword.arg == DELETE_KEY:
            self.settings[prefix] = DELETE
        else:
            self._walk(keyword.value, (*prefix, keyword.arg))


@cache
def _settings(path: Path) -> Settings:
    return _Reader(path).read()


def _defined_by_bases(path: Path, reference: KeyPath) -> Settings:
    """What the nearest of ``path``'s own bases that defines ``reference`` sets below it (empty for a host's)."""
    for base in _own_bases(path):
        found = _below(_settings(base), reference) or _defined_by_bases(base, reference)
        if found:
            return found
    return {}


def _chain(leaf: Path) -> list[Path]:
    return [leaf, *sorted(_ancestors(leaf))]


def _name(path: Path) -> str:
    """``leaf.py`` or ``_base_/models/x.py``: the path from the configs folder."""
    parts = path.parts
    return '/'.join(parts[parts.index(BASE_KEY) :]) if BASE_KEY in parts else path.name


def _dotted(path: KeyPath) -> str:
    return '.'.join(path) or '<value>'


def _deletes_of_our_keys(path: Path) -> Iterator[str]:
    for key, what in _settings(path).items():
        if what != DELETE:
            continue
        for ancestor in _ancestors(path):
            if _below(_settings(ancestor), key):
                yield f'{_name(path)} deletes {_dotted(key)}, which {_name(ancestor)} sets'


def _removals_of_our_keys(path: Path) -> Iterator[str]:
    for key, what in _settings(path).items():
        if what != REMOVED:
            continue
        for ancestor in _ancestors(path):
            if any(found == VALUE for found in _below(_settings(ancestor), key).values()):
                yield f'{_name(path)} removes {_dotted(key)}, which {_name(ancestor)} sets'


def _overridden_twice(leaf: Path) -> Iterator[str]:
    setters: dict[KeyPath, list[str]] = {}
    for path in _chain(leaf):
        for key, what in _settings(path).items():
            if what != DELETE:
                setters.setdefault(key, []).append(_name(path))
    for key, names in sorted(setters.items()):
        if len(names) > MAX_SETTERS:
            yield f'{_dotted(key)} is set by {len(names)} files: {", ".join(names)}'


LEAVES = _leaves()


def test_there_are_leaves_and_bases() -> None:
    assert len(LEAVES) > 1
    assert all(_own_bases(leaf) for leaf in LEAVES)


@pytest.mark.parametrize('leaf', LEAVES, ids=_name)
def test_own_bases_at_most_three_levels_deep(leaf: Path) -> None:
    assert _depth(leaf) <= MAX_DEPTH, f'{_name(leaf)} reaches {_depth(leaf)} levels of our own bases'


@pytest.mark.parametrize('leaf', LEAVES, ids=_name)
def test_each_value_is_set_in_one_place(leaf: Path) -> None:
    chain = _chain(leaf)
    problems = [
        *(problem for path in chain for problem in _deletes_of_our_keys(path)),
        *(problem for path in chain for problem in _removals_of_our_keys(path)),
        *_overridden_twice(leaf),
    ]
    assert not problems, '\n'.join(problems)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding='utf-8')
    return path


def test_the_checks_see_depth_deletes_removals_and_overrides(tmp_path: Path) -> None:
    """A chain with the faults these tests look for: each check reports its fault."""
    root = _write(tmp_path / '_base_/root.py', "_base_ = ['mmdet::x.py']\nvar = dict(_delete_=True, a=1)\n")
    _write(tmp_path / '_base_/one.py', "_base_ = ['./root.py']\nmodel = dict(head=dict(x=1), aug=dict(m=1))\n")
    _write(tmp_path / '_base_/two.py', "_base_ = ['./one.py']\nmodel = dict(head=dict(x=2), aug=None)\n")
    middle = _write(tmp_path / '_base_/three.py', "_base_ = ['./two.py']\nmodel = dict(head={{_base_.var}})\n")
    leaf = _write(tmp_path / 'leaf.py', "_base_ = ['_base_/three.py']\nmodel = dict(head=dict(x=3))\n")

    assert _own_bases(root) == ()
    assert _depth(leaf) == MAX_DEPTH + 1
    assert '_base_/three.py deletes model.head, which _base_/one.py sets' in _deletes_of_our_keys(middle)
    assert any('removes model.aug' in problem for path in _chain(leaf) for problem in _removals_of_our_keys(path))
    assert any(problem.startswith('model.head.x is set by 3') for problem in _overridden_twice(leaf))
