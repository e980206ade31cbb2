"""The Despina tracking server: `create_app(settings)` builds the FastAPI app over one Store."""
