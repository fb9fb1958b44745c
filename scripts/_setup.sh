# Sourced by scripts/test and scripts/demo: makes .venv and installs pyrl into it.
# Idempotent: a second run only rebuilds the extension when csrc/ changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "pyrl: creating .venv" >&2
    "$PY" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip setuptools wheel
fi
VPY="$ROOT/.venv/bin/python"
# Nothing to do (the usual case) costs one interpreter start: torch and pyrl._C load (torch
# first: pyrl._C links against libc10, which only torch's import puts on the loader's path) and
# the stamp holds the hash of the sources the installed extension was built from.
STAMP=.venv/.pyrl-installed
HASH="$(find pyproject.toml setup.py csrc -type f | sort | xargs cat | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ] || ! "$VPY" -c "import torch, pyrl._C" 2>/dev/null; then
    # torch first, and the right build: an unpinned torch pulls a multi-GB CUDA build.
    if ! "$VPY" -c "import torch" 2>/dev/null; then
        if [ -n "${PYRL_TORCH:-}" ]; then
            TORCH_REQ="$PYRL_TORCH"
        elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
            TORCH_REQ="torch"
        else
            TORCH_REQ="torch==2.13.0"   # the CPU build these machines keep on local disk
        fi
        echo "pyrl: installing $TORCH_REQ" >&2
        "$VPY" -m pip install -q "$TORCH_REQ"
    fi
    echo "pyrl: building and installing pyrl (extension pyrl._C)" >&2
    # Build deps that --no-build-isolation needs in the venv itself.
    "$VPY" -m pip install -q pybind11 ninja "setuptools>=77" wheel
    MAX_JOBS="${MAX_JOBS:-2}" "$VPY" -m pip install -q --no-build-isolation -e ".[test,ray,bench]"
    echo "$HASH" > "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"
