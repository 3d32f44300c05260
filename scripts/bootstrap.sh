# Sourced by scripts/demo and scripts/test: makes sure `uv` exists and the locked
# environment (.venv, from uv.lock) is installed. Idempotent and quick when up to date.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v uv >/dev/null 2>&1; then
  echo "[bootstrap] installing uv with pip" >&2
  python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
uv sync --frozen --quiet
