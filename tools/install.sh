#!/usr/bin/env bash
# One-command set-up of the convnext development environment.
#
# Installs into the active virtual environment, or creates .venv/ at the
# repository root: torch + torchvision, mmcv built from source with its ops,
# MinkowskiEngine (optional), the OpenMMLab stack and this package in editable
# mode with its test extras. Built wheels are cached outside the repository
# (CONVNEXT_WHEEL_CACHE, default ~/.cache/convnext-wheels), so a second run
# only installs them.
#
# mmcv's ops and MinkowskiEngine are built for the CPU, or with CUDA for the
# architectures of the GPUs nvidia-smi reports. --cuda [ARCHS] builds with CUDA
# on any machine, for ARCHS (TORCH_CUDA_ARCH_LIST syntax; default "8.0;9.0+PTX":
# A100, H100/H200 and PTX for newer GPUs); --cpu never does. The compiler comes
# as registry wheels matching torch.version.cuda (requirements/cuda-<version>.txt,
# tools/cuda_toolkit.py) or is an installed toolkit of the same major version.
# CUDA wheels are cached per CUDA version and arch list, in
# CONVNEXT_WHEEL_CACHE/cuda<version>-arch<archs>/. A CUDA build compiles in
# CONVNEXT_BUILD_DIR/cuda<version>-arch<archs>/ (default ~/.cache/convnext-build),
# kept until its wheel exists: an interrupted build resumes where it stopped
# when run again with the same environment. The steps that are more than one
# command (installed-version checks, fetching sdists, source patches) are in
# tools/install_steps.py.
#
# Usage: bash tools/install.sh [--cuda [ARCHS] | --cpu] [--no-minkowski] [--python PYTHON]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${CONVNEXT_WHEEL_CACHE:-$HOME/.cache/convnext-wheels}
BUILD_ROOT=${CONVNEXT_BUILD_DIR:-$HOME/.cache/convnext-build}
PYTHON=${PYTHON:-python3}
WITH_MINKOWSKI=1
MMCV_VERSION=2.1.0
ME_VERSION=0.5.4
TARGET=auto    # cpu, cuda, or auto: cuda when nvidia-smi reports a GPU
CUDA_ARCHS=""  # TORCH_CUDA_ARCH_LIST of a CUDA build

BAD_INPUT=0
bad_input() { BAD_INPUT=1; exit 2; }  # bad_input: stop; the one-line reason is already printed
usage_error() { echo "install.sh: $1" >&2; bad_input; }
while [ $# -gt 0 ]; do
  case "$1" in
    --no-minkowski) WITH_MINKOWSKI=0 ;;
    --python) PYTHON=$2; shift ;;
    --cpu) [ "$TARGET" = cuda ] && usage_error "--cpu and --cuda exclude each other"; TARGET=cpu ;;
    --cuda)
      [ "$TARGET" = cpu ] && usage_error "--cpu and --cuda exclude each other"
      TARGET=cuda CUDA_ARCHS=default
      if [ $# -gt 1 ] && [ "${2#-}" = "$2" ]; then CUDA_ARCHS=$2; shift; fi ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) usage_error "unknown option '$1' (expected --cuda [ARCHS], --cpu, --no-minkowski or --python PYTHON)" ;;
  esac
  shift
done
# A malformed arch list stops here, before anything is installed.
if [ "$TARGET" = cuda ]; then
  CUDA_ARCHS=$("$PYTHON" "$ROOT/tools/cuda_toolkit.py" archs "$CUDA_ARCHS") || bad_input
fi

STEP=""
step() { STEP=$1; echo "==> [install] $STEP"; }
trap 'rc=$?; [ $rc -ne 0 ] && [ $BAD_INPUT = 0 ] && echo "install.sh: FAILED at step: $STEP (exit $rc)" >&2' EXIT

step "virtual environment"
if [ -n "${VIRTUAL_ENV:-}" ]; then
  VENV=$VIRTUAL_ENV
else
  VENV=$ROOT/.venv
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
fi
PY=$VENV/bin/python
PIP=("$PY" -m pip --disable-pip-version-check)
PINS=(-c "$ROOT/requirements/constraints.txt")  # the exact versions the test suite runs on
mkdir -p "$CACHE"

STEPS=("$PY" "$ROOT/tools/install_steps.py")
installed() {  # installed DIST VERSION -> 0 when that exact version is present (CUDA: installed from $WHEELS)
  if [ "$TARGET" = cuda ]; then
    "${STEPS[@]}" installed "$1" "$2" --from "$WHEELS"
  else
    "${STEPS[@]}" installed "$1" "$2"
  fi
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
build_env() {  # build_env CMD...: run CMD with the build tools first on the paths and the target's settings
  PYTHONPATH="$BUILD_TOOLS${PYTHONPATH:+:$PYTHONPATH}" PATH="$BUILD_TOOLS/bin:$PATH" \
    MAX_JOBS=${MAX_JOBS:-$(nproc)} env "${BUILD_ENV[@]}" "$@"
}
step "torch and torchvision"
"${PIP[@]}" install -q "${PINS[@]}" -r "$ROOT/requirements/runtime.txt"

if [ "$TARGET" = auto ]; then  # nvidia-smi's GPUs (torch.cuda where the driver is too old to say)
  if command -v nvidia-smi >/dev/null 2>&1 || [ -e /dev/nvidiactl ]; then
    CUDA_ARCHS=$("$PY" "$ROOT/tools/cuda_toolkit.py" detect)
  fi
  if [ -n "$CUDA_ARCHS" ]; then TARGET=cuda; else TARGET=cpu; fi
fi
WHEELS=$CACHE
# A CPU build must not see a GPU: mmcv and MinkowskiEngine switch to CUDA when torch.cuda.is_available().
BUILD_ENV=(CUDA_VISIBLE_DEVICES=)
TOOLKIT=""
ME_TARGET=--cpu_only
if [ "$TARGET" = cuda ]; then
  step "CUDA build plan for TORCH_CUDA_ARCH_LIST=$CUDA_ARCHS"
  PLAN=$("$PY" "$ROOT/tools/cuda_toolkit.py" plan "$CUDA_ARCHS") || bad_input
  read -r CUDA_VERSION CUDA_ARCHS <<<"$PLAN"
  WHEELS=$CACHE/cuda$CUDA_VERSION-arch${CUDA_ARCHS//;/-}
  ME_TARGET=--force_cuda
  echo "CUDA $CUDA_VERSION (torch.version.cuda), wheels cached in $WHEELS"
fi
mkdir -p "$WHEELS"

cuda_toolkit() {  # CUDA_HOME for the build, its nvcc checked against the archs before anything compiles
  if [ -z "$TOOLKIT" ]; then
    TOOLKIT=$("$PY" "$ROOT/tools/cuda_toolkit.py" toolkit "$CUDA_ARCHS" "$CACHE") || bad_input
    BUILD_ENV=(CUDA_HOME="$TOOLKIT" TORCH_CUDA_ARCH_LIST="$CUDA_ARCHS" FORCE_CUDA=1)
    echo "CUDA_HOME=$TOOLKIT"
  fi
}

SRC=""
unpack() {  # unpack NAME VERSION: SRC = the unpacked sdist; a CUDA build's is persistent and reused (resumed)
  local parent
  if [ "$TARGET" = cuda ]; then parent=$BUILD_ROOT/${WHEELS##*/}; else parent=$(mktemp -d); fi
  SRC=$(build_env "${STEPS[@]}" unpack "$1" "$2" "$parent")
}
patch_source() {  # patch_source mmcv|minkowski: SOURCE_PATCHES of tools/install_steps.py, each naming its error
  if [ "$TARGET" = cuda ]; then
    "${STEPS[@]}" patch "$1" "$SRC" --cuda
  else
    "${STEPS[@]}" patch "$1" "$SRC"
  fi
}
built() {  # built: the wheel is in the cache, the sources and objects can go
  if [ "$TARGET" = cuda ]; then rm -rf "$SRC"; else rm -rf "$(dirname "$SRC")"; fi
}

build_mmcv() {
  build_tools
  [ "$TARGET" = cuda ] && cuda_toolkit
  unpack mmcv "$MMCV_VERSION"
  patch_source mmcv
  (cd "$SRC" && MMCV_WITH_OPS=1 build_env "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$WHEELS" .)
  built
}

MMCV_STEP="mmcv $MMCV_VERSION with compiled ops"
[ "$TARGET" = cuda ] && MMCV_STEP="mmcv $MMCV_VERSION with CUDA ops"
step "$MMCV_STEP"
if ! installed mmcv "$MMCV_VERSION"; then
  if ! ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then build_mmcv; fi
  "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl
fi

build_minkowski() {
  build_tools
  [ "$TARGET" = cuda ] && cuda_toolkit
  unpack MinkowskiEngine "$ME_VERSION"
  patch_source minkowski
  (cd "$SRC" && build_env "$PY" setup.py -q bdist_wheel "$ME_TARGET" --blas=openblas && cp dist/*.whl "$WHEELS"/)
  built
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
  step "MinkowskiEngine $ME_VERSION (${TARGET^^} build)"
  if ! installed MinkowskiEngine "$ME_VERSION"; then
    if ! ls "$WHEELS"/MinkowskiEngine-"$ME_VERSION"-*.whl >/dev/null 2>&1; then build_minkowski; fi
    "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEELS"/MinkowskiEngine-"$ME_VERSION"-*.whl
  fi
fi

step "OpenMMLab stack (mmengine, mmdet, mmsegmentation, mmpretrain)"
"${PIP[@]}" install -q "${PINS[@]}" -r "$ROOT/requirements/mminstall.txt"

step "convnext (editable) with test extras"
"${PIP[@]}" install -q "${PINS[@]}" --no-build-isolation -e "$ROOT[tests]"

step "import check"
"$PY" -c "import convnext, mmcv.ops, mmdet, mmseg, mmpretrain; print('convnext', convnext.__version__, '| mmcv', mmcv.__version__)"
if [ "$WITH_MINKOWSKI" = 1 ]; then
  "$PY" -c "import MinkowskiEngine as ME; print('MinkowskiEngine', ME.__version__)"
fi
if [ "$TARGET" = cuda ]; then
  "$PY" -c "from mmcv.ops import get_compiling_cuda_version as v; print('mmcv ops compiled for CUDA', v())"
  if [ "$WITH_MINKOWSKI" = 1 ]; then
    "$PY" -c "import MinkowskiEngine as ME; print('MinkowskiEngine with CUDA', ME.is_cuda_available())"
  fi
  echo "check the device code with: $PY tools/check_cuda_build.py --archs '$CUDA_ARCHS'"
fi
STEP=""
echo "==> [install] done: $VENV"
