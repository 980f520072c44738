#!/usr/bin/env bash
# Create .venv and install streamprocessor with its test and lint tools (idempotent).
#
# With Python versions as arguments (`bash scripts/setup.sh 3.12 3.13`) it creates
# .venv-3.12, .venv-3.13 instead, the same way, each with its own interpreter: $PYTHON_3_12
# (and so on) when set, else python3.12 on PATH, else the newest pyenv 3.12.* build. One
# that cannot be found is an error, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

# install into venv $1 with interpreter $2, unless pyproject.toml is what it last installed
install() {
  local venv=$1 py=$2
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
  fi
  local stamp
  stamp=$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
  if [ ! -f "$stamp" ]; then
    "$venv/bin/python" -m pip install -q --upgrade pip >&2
    "$venv/bin/python" -m pip install -q -e '.[dev]' >&2
    rm -f "$venv"/.installed-*
    touch "$stamp"
  fi
}

# print the path of a working Python $1 (e.g. 3.12), or fail saying how to get one
interpreter() {
  local version=$1 var="PYTHON_${1//./_}" candidate
  local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
  local candidates=()
  if [ -n "${!var:-}" ]; then
    candidates=("${!var}")
  else
    candidates=("python$version")
    # (newest patch release first)
    while IFS= read -r candidate; do
      candidates+=("$candidate")
    done < <(ls -d "$pyenv_root/versions/$version".*/bin/"python$version" 2>/dev/null | sort -rV)
  fi
  for candidate in "${candidates[@]}"; do
    # (a pyenv shim is on PATH even when that version is not selected: it must run)
    if "$candidate" -c "import sys
assert '%d.%d' % sys.version_info[:2] == '$version'
print(sys.executable)" 2>/dev/null; then
      return
    fi
  done
  {
    if [ -n "${!var:-}" ]; then
      echo "error: $var=${!var} is not a working Python $version interpreter"
    else
      echo "error: Python $version not found: no working" \
        "python$version on PATH, none under $pyenv_root/versions/$version.*"
    fi
    echo "  install it (e.g. \`pyenv install $version\`), or point $var at its python$version"
  } >&2
  exit 1
}

if [ $# -eq 0 ]; then
  install .venv "${PYTHON:-python3}"
fi
for version in "$@"; do
  py=$(interpreter "$version")
  install ".venv-$version" "$py"
done
