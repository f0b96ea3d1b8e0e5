"""`floor-api` (`python -m api`): the admin API on api.host:api.port, with the config's
Temporal client."""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from temporalio.client import Client

from api.app import create_app
from floor.config import load_settings
from floor.logging import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(prog="floor-api", description=__doc__)
    parser.add_argument("--config", type=Path, default=None, help="the engine's TOML config (default: floor.toml)")
    args = parser.parse_args()
    settings = load_settings(args.config)
    configure_logging(settings.log_level)

    async def temporal() -> Client:
        from client import connect

        return await connect(settings)

    print(f"floor-api: http://{settings.api.host}:{settings.api.port} (OpenAPI: /docs)", flush=True)
    serve(create_app(settings, temporal), settings.api.host, settings.api.port)


def serve(app: FastAPI, host: str, port: int) -> None:
    """`app` on uvicorn. What was loaded so far (web3, pydantic, the app) is moved out of the
    garbage collector's sight first: a full collection over it would pause every request."""
    gc.collect()
    gc.freeze()
    # The dashboard's live streams never end by themselves: a stopping API cuts them after this
    # (the pages say the connection was lost and reconnect).
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
