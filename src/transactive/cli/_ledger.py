"""``transactive ledger …``: ledger commands (``proof``: make or verify an inclusion proof; ``verify``: audit
an archived ledger DATA_DIR and what a service's SQL store shows, :mod:`transactive.cli._ledger_verify`;
``validator``: run a validator service)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    from transactive.cli import _ledger_proof as proof_cli
    from transactive.cli import _ledger_verify as verify_cli
    from transactive.ledger.clearance import validator_service

    ledger = sub.add_parser("ledger", help="ledger commands: inclusion proofs, audit of an archive, validator service")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True, parser_class=type(ledger))
    proof_cli.register(ledger_sub)
    verify_cli.register(ledger_sub)
    validator_service.register(ledger_sub)
