"""``transactive ledger …``: ledger commands (``proof``: make or verify an inclusion proof; ``verify``: audit
an archived ledger DATA_DIR; ``validator``: run a validator service)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    from transactive.ledger import audit, proof_cli, validator_service
    from transactive.market.settlement_recompute import SETTLEMENT_RECOMPUTERS

    ledger = sub.add_parser("ledger", help="ledger commands: inclusion proofs, audit of an archive, validator service")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True, parser_class=type(ledger))
    proof_cli.register(ledger_sub)
    audit.register(ledger_sub, SETTLEMENT_RECOMPUTERS)  # the audit recomputes the market's settlement slots
    validator_service.register(ledger_sub)
