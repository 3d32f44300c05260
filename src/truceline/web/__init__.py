"""The web dashboard (FastAPI): map, event detail, commission workspace, coalition, JSON API.

Public API: `create_app(events=..., territory=None, profile=None, db_url=None, users=None,
state_path=None, commission=None)` -> FastAPI app; `serve(app, host, port)` runs it with
uvicorn; `UserDirectory` (users file / demo users) and the roles in `truceline.web.auth`.
"""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    from truceline.web.app import create_app as _create

    return _create(*args, **kwargs)


def serve(app: Any, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning") -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level)


__all__ = ["create_app", "serve"]
