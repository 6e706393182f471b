"""The ceiling of this stack: a bare FastAPI app, served exactly as ``python -m service serve``.

Two endpoints, no middleware, no database, no logging:

* ``GET /bare``: an ``async def`` returning a two-key JSON object;
* ``POST /bare``: an ``async def`` taking a small typed pydantic body (five fields, one enum,
  bounds on the integers, as an estimate request has) and returning a small typed pydantic
  response with one multiplication in it.

``bench/http_bench.py`` runs it beside the service in the same round and reports every endpoint
as a ratio to these two. Run it by hand with::

    .venv/bin/python bench/bare_app.py --port 8001

The uvicorn settings are those of ``service/__main__.py``'s ``serve`` (one worker, the default
``loop="auto"``/``http="auto"``, i.e. uvloop and httptools when installed, no access log,
``proxy_headers=True``, log level warning as the benchmark sets ``PLANNER_LOG_LEVEL=WARNING``).
"""

from __future__ import annotations

import argparse
from enum import StrEnum
from typing import Annotated

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field


class Strategy(StrEnum):
    DDP = "ddp"
    ZERO_3 = "zero-3"


class BareRequest(BaseModel):
    """A small typed body, shaped like a (much reduced) estimate request."""

    model_config = ConfigDict(extra="forbid")

    parameters: Annotated[int, Field(ge=1, le=10**15)]
    gpus: Annotated[int, Field(ge=1, le=10_000_000)] = 1
    micro_batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    sequence_length: Annotated[int, Field(ge=1, le=100_000_000)] = 2048
    strategy: Strategy = Strategy.DDP


class BareResponse(BaseModel):
    parameters: int
    gpus: int
    model_states_bytes: int
    strategy: str


app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/bare")
async def bare_get() -> dict[str, str]:
    return {"status": "ok", "version": "0"}


@app.post("/bare")
async def bare_post(request: BareRequest) -> BareResponse:
    shards = request.gpus if request.strategy is Strategy.ZERO_3 else 1
    return BareResponse(
        parameters=request.parameters,
        gpus=request.gpus,
        model_states_bytes=16 * request.parameters // shards,
        strategy=request.strategy.value,
    )


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
