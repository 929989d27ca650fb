"""The HTTP way in: FastAPI routes over the constitution, with problem bodies for errors."""

from triadops.api.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
