"""``transactive serve``: the REST API (and the MQTT gateway and market cycle) on one machine.

Defaults: SQLite in ``--data-dir`` (``./transactive-data``), real clock, 15-minute slots per community.
The admin API key is ``--admin-key`` / ``$TRANSACTIVE_ADMIN_KEY``, or generated into ``DATA_DIR/admin.key``.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the service: REST API (OpenAPI at /docs), MQTT gateway, market cycle")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--data-dir", default="transactive-data", help="data directory (SQLite file, admin.key)")
    serve.add_argument("--db-url", default=None, help="database URL instead of SQLite in the data directory, "
                       "e.g. postgresql://user@host:5432/transactive")
    serve.add_argument("--mqtt-url", default=None, help="run the MQTT gateway against this broker, "
                       "e.g. mqtt://127.0.0.1:1883")
    serve.add_argument("--mqtt-client-id", default="transactive-gateway",
                       help="the gateway's MQTT client id: a persistent session, so that orders not yet committed "
                       "when the service stops are redelivered (default transactive-gateway; one per service)")
    serve.add_argument("--admin-key", default=os.environ.get("TRANSACTIVE_ADMIN_KEY"),
                       help="the administrator's API key (default: $TRANSACTIVE_ADMIN_KEY or DATA_DIR/admin.key)")
    serve.add_argument("--accelerate", type=float, default=None, metavar="FACTOR",
                       help="run market time FACTOR times faster than real time (demos)")
    serve.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from transactive.marketfile import MarketFileError

    try:
        import uvicorn

        from transactive.api import Settings, create_app
        from transactive.market import AcceleratedClock, Clock, RealClock
    except ModuleNotFoundError as exc:
        raise MarketFileError("serve", f"the service needs the 'service' extra ({exc.name} is missing): "
                              "pip install 'transactive[service]'") from None
    if not 0 < args.port < 65536:
        raise MarketFileError("--port", "must be 1-65535")
    clock: Clock = RealClock()
    if args.accelerate is not None:
        if not args.accelerate > 0:
            raise MarketFileError("--accelerate", "must be > 0")
        clock = AcceleratedClock(datetime.now(UTC), args.accelerate)
    settings = Settings(data_dir=Path(args.data_dir), db_url=args.db_url, admin_key=args.admin_key,
                        mqtt_url=args.mqtt_url, mqtt_client_id=args.mqtt_client_id, clock=clock)
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0
