"""Validators as network processes (seed 001 Fig. 4 over HTTP/JSON): a validator service and a coordinator.

**Service** (``transactive ledger validator --key-file K --batch-dir D --port P [--host 127.0.0.1]``): a
standard-library HTTP server holding one validator key (a file with the 32-byte private key in hex).

* ``GET /health`` -> ``{"validator": address}``;
* ``POST /endorse`` with ``{"batch": <transactive.ledger-batch/3 (or /2, /1) document, no results needed>,
  "rewards": {"auctioneerPpm": int, "minerPpm": int[, "auctioneer": address]} | null}`` (``auctioneer``
  for a claims-mode slot, whose rewards are leaves) -- or ``{"slot": s, "rewards": ...}`` to endorse the
  committed batch stored as ``D/<slot>.json`` -- recomputes the slot
  (:func:`~transactive.ledger.clearance.protocol.recompute`) and answers ``{"validator", "slot", "orderRoot",
  "resultRoot", "results": [...], "signature"}`` (hex ``0x…``). A batch received inline is archived as
  ``D/<slot>.json`` (the validator's own copy for a later audit). Errors: 400 with ``{"error": message}``
  (malformed request, a batch that cannot be recomputed).

The port 0 picks a free port; the service prints ``listening on http://HOST:PORT`` (one line, flushed)
once it accepts connections. It binds to loopback unless ``--host`` says otherwise. ``--tamper`` is a
TEST-ONLY switch (hidden from ``--help``): the service adds one micro-token to the first entry, i.e. it
signs a wrong root, so tests can run a dishonest validator process.

**Coordinator** (:func:`ask_validators`, :func:`remote_round`): asks every endpoint concurrently, turns the
answers into :class:`~transactive.ledger.clearance.protocol.Endorsed` (signatures are checked by
:func:`~transactive.ledger.clearance.protocol.collect`, so a service cannot claim another validator's identity),
reports unreachable endpoints and dissenters, and submits the root that reached ``k`` on chain.

Choices (the seeds are silent): JSON over plain HTTP on loopback, no authentication (an endorsement is
only as good as its signature, which everyone checks); the reward shares travel with the request, the
coordinator reading them from the opened slot (:func:`~transactive.ledger.clearance.protocol.slot_rewards`).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from transactive.crypto.encoding import hex0x
from transactive.crypto.signing import WorkerPool
from transactive.ledger.audit.proofs import ProofError, SlotBatch, load_batch, save_batch
from transactive.ledger.chain.base import Chain, Contract
from transactive.ledger.clearance.protocol import (
    ClearanceError,
    Collected,
    Endorsed,
    Validator,
    auctioneer_index,
    endorse_and_submit,
    open_and_commit,
    preflight,
    slot_rewards,
)
from transactive.ledger.messages.commitments import ResultEntry, RewardShares

__all__ = ["RemoteRound", "ask_validators", "make_server", "register", "remote_round", "run"]


class _TamperingValidator(Validator):
    """Test-only: signs a root with one extra micro-token for the first entry."""

    def solve(self, batch: SlotBatch, rewards: RewardShares | None = None) -> tuple[ResultEntry, ...]:
        entries = super().solve(batch, rewards)
        if not entries:
            return entries
        first = entries[0]
        return (ResultEntry(first.account, first.energy_wh, first.amount_micro + 1), *entries[1:])


def _rewards_from_json(raw: Any) -> RewardShares | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ValueError("rewards must be an object or null")
    auctioneer = raw.get("auctioneer")
    return RewardShares(int(raw["auctioneerPpm"]), int(raw["minerPpm"]),
                        auctioneer=None if auctioneer is None else str(auctioneer))


def _rewards_to_json(rewards: RewardShares | None) -> dict[str, Any] | None:
    if rewards is None:
        return None
    doc: dict[str, Any] = {"auctioneerPpm": rewards.auctioneer_ppm, "minerPpm": rewards.miner_ppm}
    if rewards.auctioneer is not None:
        doc["auctioneer"] = rewards.auctioneer
    return doc


def _endorsed_to_json(e: Endorsed) -> dict[str, Any]:
    return {
        "validator": e.validator, "slot": e.slot, "orderRoot": hex0x(e.order_root),
        "resultRoot": hex0x(e.result_root), "results": [r.to_json() for r in e.results],
        "signature": hex0x(e.signature),
    }


def _endorsed_from_json(doc: Mapping[str, Any]) -> Endorsed:
    def raw(key: str) -> bytes:
        text = str(doc[key])
        return bytes.fromhex(text[2:] if text.startswith("0x") else text)

    return Endorsed(
        str(doc["validator"]), int(doc["slot"]), raw("orderRoot"), raw("resultRoot"),
        tuple(ResultEntry.from_json(r) for r in doc["results"]), raw("signature"),
    )


def make_server(validator: Validator, batch_dir: Path, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """The validator's HTTP server (not started: call ``serve_forever``)."""
    batch_dir.mkdir(parents=True, exist_ok=True)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, doc: Mapping[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._reply(200, {"validator": validator.address})
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path != "/endorse":
                self._reply(404, {"error": "not found"})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length))
                if not isinstance(request, dict):
                    raise ValueError("the request must be a JSON object")
                rewards = _rewards_from_json(request.get("rewards"))
                if "batch" in request:
                    batch = SlotBatch.from_json(request["batch"])
                    save_batch(batch, batch_dir / f"{batch.slot}.json")
                else:
                    batch = load_batch(batch_dir / f"{int(request['slot'])}.json")
                answer = validator.endorse(batch, rewards)
            except (ValueError, KeyError, TypeError, ProofError, ClearanceError) as exc:
                self._reply(400, {"error": f"{type(exc).__name__}: {exc}"})
                return
            self._reply(200, _endorsed_to_json(answer))

    return ThreadingHTTPServer((host, port), Handler)


def _post(url: str, doc: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
    request = urllib.request.Request(
        url.rstrip("/") + "/endorse", data=json.dumps(doc).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            out: dict[str, Any] = json.loads(response.read())
            return out
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"{url}: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from exc
    except (OSError, ValueError) as exc:
        raise ConnectionError(f"{url}: {exc}") from exc


def ask_validators(
    batch: SlotBatch, endpoints: Sequence[str], *, rewards: RewardShares | None, timeout_s: float = 60.0
) -> tuple[list[Endorsed], dict[str, str]]:
    """Ask every endpoint (``http://host:port``) concurrently to endorse ``batch``; returns the answers in
    endpoint order and ``{endpoint: error}`` for those that failed (unreachable, refused, malformed)."""
    doc = {"batch": batch.to_json(), "rewards": _rewards_to_json(rewards)}
    answers: list[Endorsed] = []
    failed: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(endpoints))) as pool:
        futures = [pool.submit(_post, url, doc, timeout_s) for url in endpoints]
        for url, future in zip(endpoints, futures, strict=True):
            try:
                answers.append(_endorsed_from_json(future.result()))
            except (ConnectionError, KeyError, TypeError, ValueError) as exc:
                failed[url] = str(exc)
    return answers, failed


@dataclass(frozen=True)
class RemoteRound:
    """The outcome of a networked Proof-of-Clearance round."""

    batch: SlotBatch
    collected: Collected
    miner: str
    unreachable: Mapping[str, str]


def remote_round(
    chain: Chain, slots: Contract, batch: SlotBatch, endpoints: Sequence[str], *, validators: Sequence[str],
    k: int, mode: int = 1, timeout_s: float = 60.0,
) -> RemoteRound:
    """Like :func:`~transactive.ledger.clearance.protocol.run_slot` with the validators behind ``endpoints``: the
    auctioneer (``validators[slot % n]``, the Registry's order) opens the slot and commits the order root;
    every endpoint is asked; the root with ``k`` valid signatures is submitted, by the agreeing validators
    in turn starting after the auctioneer. ``ClearanceError`` if no root reaches ``k``."""
    preflight(chain, slots, batch)
    open_and_commit(chain, slots, batch.slot, mode=mode, order_root=batch.order_root, count=len(batch.orders),
                    auctioneer=validators[auctioneer_index(batch.slot, len(validators))])
    answers, failed = ask_validators(batch, endpoints, rewards=slot_rewards(chain, slots, batch.slot),
                                     timeout_s=timeout_s)
    collected, miner, _ = endorse_and_submit(chain, slots, answers, domain=batch.domain, slot=batch.slot,
                                             order_root=batch.order_root, validators=validators, k=k)
    final = batch.endorsed(collected.results, collected.signatures)
    return RemoteRound(final, collected, miner, failed)


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``validator`` sub-command to an ``add_subparsers()`` object; return its parser."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "validator", help="run a validator service: recompute committed slot batches and sign endorsements"
    )
    parser.add_argument("--key-file", required=True, help="file holding the validator's private key (hex)")
    parser.add_argument("--batch-dir", required=True, help="directory of slot batches (<slot>.json)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--tamper", action="store_true", help=argparse.SUPPRESS)  # test-only
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted (exit 0), or 2 for an unreadable key file."""
    from transactive.registry import full_registry

    try:
        text = Path(args.key_file).read_text(encoding="utf-8").strip()
        key = bytes.fromhex(text[2:] if text.startswith("0x") else text)
        # one pool for the service's life (its workers start on the first large batch): the signatures are
        # recovered there while the request's thread clears (a threaded server: forkserver workers)
        pool = WorkerPool(start_method="forkserver")
        validator = (_TamperingValidator if args.tamper else Validator)(key, pool)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read a private key from {args.key_file}: {exc}", file=sys.stderr)
        return 2
    full_registry()  # import the mechanisms before accepting requests
    server = make_server(validator, Path(args.batch_dir), args.host, args.port)
    host, port = server.server_address[:2]
    print(f"listening on http://{host!s}:{port} as {validator.address}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        pool.close()
    return 0
