"""Command line: ``python -m service {serve|migrate|openapi|estimate|optimal|plan|planner|client}``.

Also installed as ``planner``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from service.cli import register
from service.config import get_settings
from service.logs import configure_logging


def _migrate(_args: argparse.Namespace) -> int:
    from service.persistence.engine import create_db_engine
    from service.usecases.migrate import migrate_and_seed

    settings = get_settings()
    engine = create_db_engine(settings)
    try:
        reports = migrate_and_seed(engine)
    finally:
        engine.dispose()
    for report in reports:
        print(report.summary())
        for slug, reason in report.skipped.items():
            print(f"  skipped {slug}: {reason}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    if settings.migrate_on_startup:
        # Migrate once here, so that several workers do not race to do it.
        _migrate(args)
        os.environ["PLANNER_AUTO_MIGRATE"] = "false"
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        access_log=False,  # the service's own structured access log replaces it
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )
    return 0


def _openapi(_args: argparse.Namespace) -> int:
    from service.app import create_app

    json.dump(create_app().openapi(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line's argument parser."""
    parser = argparse.ArgumentParser(prog="planner", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="apply migrations, then load the catalogue")
    migrate.set_defaults(run=_migrate)

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (bare VM)")
    serve.set_defaults(run=_serve)

    openapi = commands.add_parser("openapi", help="print the OpenAPI document")
    openapi.set_defaults(run=_openapi)

    register(commands)  # estimate, client: service/cli.py
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m service`` and the ``planner`` script."""
    args = build_parser().parse_args(argv)
    configure_logging(get_settings())
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
