"""``transactive serve``: the REST API (and the MQTT gateway and market cycle) on one machine.

Defaults: SQLite in ``--data-dir`` (``./transactive-data``), real clock, 15-minute slots per community, the
embedded chain in ``DATA_DIR/chain`` (contracts deployed on first start; on the revm engine when new,
``--chain-engine pyevm`` for py-evm, an existing directory keeps its engine; ``--chain-url`` for a node,
``--no-chain`` for none) with 4 in-process validators, threshold 3.
The admin API key is ``--admin-key`` / ``$TRANSACTIVE_ADMIN_KEY``, or generated into ``DATA_DIR/admin.key``.
The custodial keys are sealed with ``--key-encryption-key-file`` / ``$TRANSACTIVE_KEY_ENCRYPTION_KEY``
(:mod:`transactive.store.sealing`).
``--mqtt-workers N`` runs N gateway processes (this one and N-1 children) that split the incoming MQTT
orders through a shared subscription (the broker must support ``$share``, e.g. Mosquitto >= 1.6); they share
the database, whose transactions keep them consistent. A worker that dies is restarted with the same client id
(``cli._workers.WorkerSupervisor``), which takes over its broker session and so the orders it had not yet
acknowledged.

Fleet (``docs/deployment.md``): several ``serve`` processes on one PostgreSQL (``--db-url``), each taking REST and
MQTT intake (``--mqtt-share-group``: each claims the first free client id ``<--mqtt-client-id>-<i>`` under a
lease, so a replacement takes over a dead process's broker session) and running the cycle; each slot's steps
are done once under PostgreSQL leases (:mod:`transactive.store.leases`). On SQLite the service is one process:
a second ``serve`` on the same data directory exits 2 (``DATA_DIR/serve.lock``).
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from transactive.cli._workers import WorkerSupervisor
from transactive.ledger.chain.constants import CHAIN_ENGINES, REVM

SHARE_GROUP = "transactive"
CLOCK_FILE = "clock.json"  # the accelerated clock's origin (docs/service.md)


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
    serve.add_argument("--mqtt-workers", type=int, default=1, metavar="N",
                       help="gateway processes sharing the MQTT order load (default 1; 2 on a 2-core machine)")
    serve.add_argument("--mqtt-share-group", default=None, metavar="NAME",
                       help="subscribe through the shared subscription $share/NAME/...: a fleet of serve processes "
                       "on one PostgreSQL and one broker splits the MQTT intake; each process claims the first "
                       "free client id <--mqtt-client-id>-<i> (docs/deployment.md)")
    serve.add_argument("--mqtt-only", action="store_true", help=argparse.SUPPRESS)  # a worker of --mqtt-workers
    serve.add_argument("--admin-key", default=os.environ.get("TRANSACTIVE_ADMIN_KEY"),
                       help="the administrator's API key (default: $TRANSACTIVE_ADMIN_KEY or DATA_DIR/admin.key)")
    serve.add_argument("--key-encryption-key-file", default=None, metavar="PATH",
                       help="the key that encrypts the custodial keys at rest, outside the data directory (default: "
                       "$TRANSACTIVE_KEY_ENCRYPTION_KEY, $TRANSACTIVE_KEY_ENCRYPTION_KEY_FILE or "
                       "~/.config/transactive/key-encryption.key; docs/service.md)")
    serve.add_argument("--accelerate", type=float, default=None, metavar="FACTOR",
                       help="run market time FACTOR times faster than real time (demos)")
    serve.add_argument("--chain-url", default=None, metavar="URL",
                       help="a JSON-RPC node (e.g. http://127.0.0.1:8545) instead of the embedded chain persisted in "
                       "DATA_DIR/chain")
    serve.add_argument("--chain-engine", choices=CHAIN_ENGINES, default=REVM,
                       help="the in-process engine of a new DATA_DIR/chain (default revm; an existing one keeps its "
                       "own engine; docs/ledger.md, Engines)")
    serve.add_argument("--no-chain", action="store_true",
                       help="run without the ledger (no accounts, anchoring or on-chain settlement)")
    serve.add_argument("--validators", type=int, default=4, metavar="N", help="in-process validators (default 4)")
    serve.add_argument("--threshold", type=int, default=3, metavar="K",
                       help="endorsements needed to accept a result (default 3)")
    serve.add_argument("--start-tokens", type=int, default=1_000, metavar="T",
                       help="tokens minted to each new member account (default 1000)")
    serve.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(run=run_serve)


def _worker_command(args: argparse.Namespace, index: int, client_id: str) -> list[str]:
    command = [sys.executable, "-m", "transactive.cli", "serve", "--mqtt-only", "--data-dir", str(args.data_dir),
               "--mqtt-url", args.mqtt_url, "--mqtt-client-id", f"{client_id}-{index}",
               "--mqtt-share-group", args.mqtt_share_group or SHARE_GROUP, "--log-level", args.log_level]
    if args.db_url:
        command += ["--db-url", args.db_url]
    return command


def _use_key_file(path: Path, data_dir: Path) -> None:
    """Read the custodial keys' key-encryption key from ``path`` (this process and its gateway workers: through
    ``$TRANSACTIVE_KEY_ENCRYPTION_KEY_FILE``); it must exist and lie outside the data directory (a copy of the
    directory must not carry the key that opens it)."""
    from transactive.marketfile import MarketFileError
    from transactive.store.sealing import ENV_KEY, ENV_KEY_FILE

    resolved = path.expanduser().resolve()
    if not resolved.is_file():
        raise MarketFileError("--key-encryption-key-file", f"{path} is not a file")
    if resolved.is_relative_to(data_dir.expanduser().resolve()):
        raise MarketFileError("--key-encryption-key-file", "must lie outside the data directory")
    os.environ.pop(ENV_KEY, None)  # the file given here wins over the environment
    os.environ[ENV_KEY_FILE] = str(resolved)


def freeze_startup_heap() -> None:
    """Move every object alive after start-up (modules, the app, the chain engine, contract ABIs, caches) out of
    the cyclic garbage collector's reach (``gc.freeze``), after one collection so that no garbage is kept.

    Without it every full (generation 2) collection walks that whole heap, ~10^6 objects with the ledger on:
    0.10-0.14 s of CPU in one go, the first of them within the first ~1,000 REST orders after start-up
    (100-140 us per order of such a run, on a path of ~800-1,000 us; docs/service.md, Performance). The
    price: a start-up object that later becomes part of cyclic garbage is never reclaimed (reference counting
    still frees the others)."""
    gc.collect()
    gc.freeze()


def run_serve(args: argparse.Namespace) -> int:
    from transactive.marketfile import MarketFileError

    try:
        import uvicorn

        from transactive.api import Service, Settings, create_app
        from transactive.market import AcceleratedClock, Clock, RealClock
    except ModuleNotFoundError as exc:
        raise MarketFileError("serve", f"the service needs the 'service' extra ({exc.name} is missing): "
                              "pip install 'transactive[service]'") from None
    if not 0 < args.port < 65536:
        raise MarketFileError("--port", "must be 1-65535")
    if args.mqtt_workers < 1:
        raise MarketFileError("--mqtt-workers", "must be >= 1")
    if args.mqtt_workers > 1 and not args.mqtt_url:
        raise MarketFileError("--mqtt-workers", "needs --mqtt-url")
    if args.mqtt_workers > 1 and args.accelerate is not None:
        raise MarketFileError("--mqtt-workers", "cannot be combined with --accelerate (one clock per process)")
    if args.key_encryption_key_file is not None:
        _use_key_file(Path(args.key_encryption_key_file), Path(args.data_dir))
    clock: Clock = RealClock()
    if args.accelerate is not None:
        if not args.accelerate > 0:
            raise MarketFileError("--accelerate", "must be > 0")
        from transactive.files import private_dir

        data_dir = private_dir(Path(args.data_dir))
        try:  # the origin kept in the data directory: market time goes on across restarts
            clock = AcceleratedClock.persistent(data_dir / CLOCK_FILE, args.accelerate)
        except ValueError as exc:
            raise MarketFileError("--accelerate", str(exc)) from None
    ledger = None
    if not args.no_chain and not args.mqtt_only:  # gateway workers take orders only: no chain
        try:
            from transactive.market.ledger.desk import LedgerConfig  # imports the ledger extra's packages
        except ModuleNotFoundError as exc:
            raise MarketFileError("serve", f"the ledger needs the 'ledger' extra ({exc.name} is missing): "
                                  "pip install 'transactive[ledger]', or run with --no-chain") from None
        try:
            ledger = LedgerConfig(chain_url=args.chain_url, chain_dir=Path(args.data_dir) / "chain",
                                  chain_engine=args.chain_engine,
                                  validators=args.validators, threshold=args.threshold,
                                  start_tokens=args.start_tokens, archive_dir=Path(args.data_dir))
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            raise MarketFileError(f"--{field.replace('_', '-')}", message) from None
    elif args.chain_url:
        raise MarketFileError("--chain-url", "cannot be combined with --no-chain")
    if args.mqtt_share_group is not None and not args.mqtt_url:
        raise MarketFileError("--mqtt-share-group", "needs --mqtt-url")
    sqlite = not args.db_url or str(args.db_url).startswith("sqlite")
    if sqlite and not args.mqtt_only:  # SQLite serves one process (its gateway workers only take orders)
        from transactive.files import private_dir
        from transactive.store.leases import DataDirBusy, hold_data_dir

        try:
            held = hold_data_dir(private_dir(Path(args.data_dir)))  # noqa: F841 - held until the process ends
        except DataDirBusy as exc:
            raise MarketFileError("--data-dir", str(exc)) from None
    shared = args.mqtt_only or args.mqtt_workers > 1
    group = args.mqtt_share_group or (SHARE_GROUP if shared else None)
    settings = Settings(data_dir=Path(args.data_dir), db_url=args.db_url, admin_key=args.admin_key,
                        mqtt_url=args.mqtt_url, mqtt_client_id=args.mqtt_client_id,
                        mqtt_share_group=group, mqtt_claim_client_id=args.mqtt_share_group is not None
                        and not args.mqtt_only and not sqlite, clock=clock,
                        run_cycle=not args.mqtt_only, ledger=ledger)
    if args.mqtt_only:  # a gateway worker: no HTTP, no cycle; stops on SIGTERM
        service = Service(settings)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        parent = os.getppid()
        service.start()
        freeze_startup_heap()
        print("ready", flush=True)  # subscribed: the parent waits for this line
        try:
            while not stop.wait(0.5) and os.getppid() == parent:  # also stop when orphaned
                pass
        finally:
            service.stop()
        return 0
    app = create_app(settings)  # bootstraps the database and the admin key before any worker starts
    env = {**os.environ, "TRANSACTIVE_ADMIN_KEY": app.state.service.admin_key}
    client_id = app.state.service.mqtt_client_id or args.mqtt_client_id  # in a fleet: the one it claimed
    supervisor = WorkerSupervisor([_worker_command(args, i, client_id) for i in range(1, args.mqtt_workers)], env)
    # uvicorn re-raises SIGTERM after its shutdown, so code after uvicorn.run may never run: stop the workers
    # in the service's shutdown (the app's lifespan) instead, and in `finally` for the other exits
    app.state.service.on_stop.append(supervisor.stop)
    try:
        supervisor.start()  # serve only once every gateway is subscribed; restarts a worker that dies
        freeze_startup_heap()
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    finally:
        supervisor.stop()
    return 0
