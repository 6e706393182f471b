"""ASGI entry point for servers: ``uvicorn service.main:app``.

Importing this module builds the app from the environment; everything else in the package uses
:func:`service.app.create_app` and builds nothing at import time.
"""

from service.app import create_app

app = create_app()
