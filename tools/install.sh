#!/usr/bin/env bash
# One-command set-up of the convnext development environment.
#
# Installs into the active virtual environment, or creates .venv/ at the
# repository root: torch + torchvision, mmcv built from source with its ops,
# MinkowskiEngine (CPU build, optional), the OpenMMLab stack and this package
# in editable mode with its test extras. Built wheels are cached outside the
# repository (CONVNEXT_WHEEL_CACHE, default ~/.cache/convnext-wheels), so a
# second run only installs them.
#
# Usage: bash tools/install.sh [--no-minkowski] [--python PYTHON]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${CONVNEXT_WHEEL_CACHE:-$HOME/.cache/convnext-wheels}
PYTHON=${PYTHON:-python3}
WITH_MINKOWSKI=1
MMCV_VERSION=2.1.0
ME_VERSION=0.5.4

while [ $# -gt 0 ]; do
  case "$1" in
    --no-minkowski) WITH_MINKOWSKI=0 ;;
    --python) PYTHON=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$1' (expected --no-minkowski or --python PYTHON)" >&2; exit 2 ;;
  esac
  shift
done

STEP=""
step() { STEP=$1; echo "==> [install] $STEP"; }
trap 'rc=$?; [ $rc -ne 0 ] && echo "install.sh: FAILED at step: $STEP (exit $rc)" >&2' EXIT

step "virtual environment"
if [ -n "${VIRTUAL_ENV:-}" ]; then
  VENV=$VIRTUAL_ENV
else
  VENV=$ROOT/.venv
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
fi
PY=$VENV/bin/python
PIP=("$PY" -m pip --disable-pip-version-check)
mkdir -p "$CACHE"

installed() {  # installed DIST VERSION -> 0 when that exact version is present
  [ "$("$PY" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null)" = "$2" ]
}

step "pip"
"${PIP[@]}" install -q --upgrade pip

# Source builds need setuptools<70 (mmcv imports pkg_resources) while torch
# needs a newer one: the build tools live in their own folder on PYTHONPATH.
BUILD_TOOLS=""
build_tools() {
  if [ -z "$BUILD_TOOLS" ]; then
    BUILD_TOOLS=$(mktemp -d)
    "${PIP[@]}" install -q --target "$BUILD_TOOLS" -r "$ROOT/requirements/build.txt"
  fi
}
build_env() {  # build_env CMD...: run CMD with the build tools first on the paths
  PYTHONPATH="$BUILD_TOOLS${PYTHONPATH:+:$PYTHONPATH}" PATH="$BUILD_TOOLS/bin:$PATH" \
    MAX_JOBS=${MAX_JOBS:-$(nproc)} "$@"
}
fetch_sdist() {  # fetch_sdist NAME VERSION DEST: the sdist from the index, sha256-checked
  "$PY" - "$@" <<'PYEOF'
import hashlib, os, re, sys, urllib.request
name, version, dest = sys.argv[1:]
index = os.environ.get('PIP_INDEX_URL', 'https://pypi.org/simple').rstrip('/')
page = urllib.request.urlopen(f'{index}/{name.lower()}/', timeout=120).read().decode()
for url in re.findall(r'href="([^"]+)"', page):
    file_url, _, digest = url.partition('#sha256=')
    filename = file_url.rsplit('/', 1)[-1]
    if filename.lower() == f'{name}-{version}.tar.gz'.lower():
        data = urllib.request.urlopen(file_url, timeout=600).read()
        if digest and hashlib.sha256(data).hexdigest() != digest:
            sys.exit(f'sha256 mismatch for {filename}')
        with open(os.path.join(dest, filename), 'wb') as f:
            f.write(data)
        print(os.path.join(dest, filename))
        break
else:
    sys.exit(f'no sdist {name}-{version}.tar.gz on {index}')
PYEOF
}

step "torch and torchvision"
"${PIP[@]}" install -q -r "$ROOT/requirements/runtime.txt"

build_mmcv() {
  local src
  src=$(mktemp -d)
  build_tools
  tar -xzf "$(fetch_sdist mmcv "$MMCV_VERSION" "$src")" -C "$src"
  # torch 2.14's headers need C++20; mmcv hard-codes c++14/c++17.
  sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/mmcv-$MMCV_VERSION/setup.py"
  (cd "$src/mmcv-$MMCV_VERSION" &&
    MMCV_WITH_OPS=1 build_env "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$CACHE" .)
  rm -rf "$src"
}

step "mmcv $MMCV_VERSION with compiled ops"
if ! installed mmcv "$MMCV_VERSION"; then
  ls "$CACHE"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1 || build_mmcv
  "${PIP[@]}" install -q --no-deps "$CACHE"/mmcv-"$MMCV_VERSION"-*.whl
fi

build_minkowski() {
  local src dir
  src=$(mktemp -d)
  build_tools
  tar -xzf "$(fetch_sdist MinkowskiEngine "$ME_VERSION" "$src")" -C "$src"
  dir=$(find "$src" -maxdepth 1 -type d -iname "minkowskiengine-$ME_VERSION")
  # Python 3.10 removed the ABC aliases in `collections` (e.g. Sequence): import them from collections.abc.
  "$PY" - "$dir" <<'PYEOF'
import collections.abc, pathlib, re, sys
abcs = set(collections.abc.__all__)
def split(match):
    names = [name.strip() for name in match.group(1).split(',')]
    moved = [n for n in names if n in abcs]
    rest = [n for n in names if n not in abcs]
    if not moved:
        return match.group(0)
    lines = [f'from collections.abc import {", ".join(moved)}']
    return '\n'.join(lines + ([f'from collections import {", ".join(rest)}'] if rest else []))
for path in pathlib.Path(sys.argv[1]).rglob('*.py'):
    text = path.read_text()
    fixed = re.sub(r'^from collections import ([\w, ]+)$', split, text, flags=re.M)
    if fixed != text:
        path.write_text(fixed)
PYEOF
  (cd "$dir" && build_env "$PY" setup.py -q bdist_wheel --cpu_only --blas=openblas &&
    cp dist/*.whl "$CACHE"/)
  rm -rf "$src"
}

if [ "$WITH_MINKOWSKI" = 1 ]; then
  step "libopenblas-dev (MinkowskiEngine build dependency)"
  if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev >/dev/null
    fi
  fi
  step "MinkowskiEngine $ME_VERSION (CPU build)"
  if ! installed MinkowskiEngine "$ME_VERSION"; then
    ls "$CACHE"/MinkowskiEngine-"$ME_VERSION"-*.whl >/dev/null 2>&1 || build_minkowski
    "${PIP[@]}" install -q --no-deps "$CACHE"/MinkowskiEngine-"$ME_VERSION"-*.whl
  fi
fi

step "OpenMMLab stack (mmengine, mmdet, mmsegmentation, mmpretrain)"
"${PIP[@]}" install -q -r "$ROOT/requirements/mminstall.txt"

step "convnext (editable) with test extras"
"${PIP[@]}" install -q --no-build-isolation -e "$ROOT[tests]"

step "import check"
"$PY" -c "import convnext, mmcv.ops, mmdet, mmseg, mmpretrain; print('convnext', convnext.__version__, '| mmcv', mmcv.__version__)"
if [ "$WITH_MINKOWSKI" = 1 ]; then
  "$PY" -c "import MinkowskiEngine as ME; print('MinkowskiEngine', ME.__version__)"
fi
STEP=""
echo "==> [install] done: $VENV"
