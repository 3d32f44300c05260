# Sourced by scripts/demo and scripts/test: makes sure `uv` exists and the locked
# environment (.venv, from uv.lock) is installed. Idempotent and quick when up to date.
# Afterwards "$UV" runs uv (a fresh pip install may not be on PATH yet, e.g. under pyenv).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if command -v uv >/dev/null 2>&1; then
  UV=(uv)
else
  if python3 -m uv --version >/dev/null 2>&1; then
    UV=(python3 -m uv)
  elif [ -x .tools/bin/uv ]; then
    UV=(.tools/bin/uv)
  else
    echo "[bootstrap] installing uv with pip" >&2
    if python3 -m pip install --quiet uv 2>/dev/null && python3 -m uv --version >/dev/null 2>&1; then
      UV=(python3 -m uv)
    else  # e.g. a system Python that refuses pip installs (PEP 668): a private venv for uv
      python3 -m venv .tools
      .tools/bin/pip install --quiet uv
      UV=(.tools/bin/uv)
    fi
  fi
fi
"${UV[@]}" sync --frozen --quiet
