"""``transactive ledger …``: ledger commands (``proof``: make or verify an inclusion proof; ``verify``: audit
an archived ledger DATA_DIR)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    from transactive.ledger import audit, proof_cli

    ledger = sub.add_parser("ledger", help="ledger commands: inclusion proofs, audit of an archive")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True, parser_class=type(ledger))
    proof_cli.register(ledger_sub)
    audit.register(ledger_sub)
