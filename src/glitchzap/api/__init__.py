"""The HTTP API: a thin FastAPI adapter over the core (`create_app` in `main.py`)."""
