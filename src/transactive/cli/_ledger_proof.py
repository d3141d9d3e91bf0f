"""``transactive ledger proof``: make inclusion proofs from a stored slot batch, or verify one.

Usage (once registered under the ``ledger`` command group with :func:`register`)::

    transactive ledger proof BATCH.json --account 0xABC… --nonce 3 [--out PROOF.json]   # an order proof
    transactive ledger proof BATCH.json --account 0xABC… --result [--out PROOF.json]    # a result proof
    transactive ledger proof BATCH.json --account 0xABC… --attributes                  # signed attributes
    transactive ledger proof BATCH.json --account 0xABC…                                # all, as a list
    transactive ledger proof BATCH.json --market [--out PROOF.json]                     # the market block
    transactive ledger proof --verify PROOF.json --root 0x…                              # check a proof
    transactive ledger proof --verify PROOF.json --data-dir DATA_DIR [--chain-url URL]   # root from the chain

A proof is checked against a root the user trusts, never only against the root it states itself (a forged
proof is always self-consistent): ``--root``, or the root ``MarketSlots`` recorded for the proof's slot,
read from ``DATA_DIR/chain/`` (read only) or ``--chain-url`` at the manifest's address; without either it
exits 2.

Exit codes: 0 success (a valid proof prints ``valid …`` and what its root was checked against on standard
output); 2 invalid input -- no trusted root, an invalid proof, an unreadable or inconsistent batch, an
account or order not in the batch -- with one line on standard error. Formats: ``docs/ledger.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from transactive.crypto.encoding import EncodingError
from transactive.ledger.audit.proofs import (
    EXIT_INVALID_PROOF,
    ProofError,
    load_batch,
    make_proof,
    proofs_for,
    verify_proof_file,
)


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``proof`` sub-command to an ``add_subparsers()`` object; return its parser."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "proof", help="make an inclusion proof of an order or result from a slot batch, or verify one"
    )
    parser.add_argument("batch", nargs="?", help="a transactive.ledger-batch/3 (or /2, /1) JSON file")
    parser.add_argument("--account", help="the trader / account address")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--nonce", type=int, help="prove the account's order with this nonce")
    which.add_argument("--result", action="store_true", help="prove the account's result entry")
    which.add_argument("--attributes", action="store_true",
                       help="prove the account's signed attributes (grid-aware slots)")
    which.add_argument("--market", action="store_true",
                       help="prove the slot's market block (mechanism, params, DSO) in its order root; no --account "
                            "(format-3 batches)")
    parser.add_argument("--out", help="write the proof JSON here instead of standard output")
    parser.add_argument("--verify", metavar="PROOF", help="verify a transactive.merkle-proof/1 file")
    parser.add_argument("--root", help="with --verify: the trusted root it must lead to (e.g. read from the chain)")
    parser.add_argument("--data-dir", metavar="DATA_DIR",
                        help="with --verify: read the trusted root from this ledger archive's chain (read only)")
    parser.add_argument("--chain-url", metavar="URL",
                        help="with --verify --data-dir: read the root from this JSON-RPC node instead")
    parser.set_defaults(run=run)
    return parser


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INVALID_PROOF


def _verify(args: argparse.Namespace) -> int:
    """``--verify``: the proof against ``--root`` or the root recorded on chain (``--data-dir``)."""
    from transactive.ledger.audit.audit import AuditInputError, recorded_root

    if (args.root is None) == (args.data_dir is None):
        return _fail("--verify needs a trusted root: --root 0x… (the root recorded on chain) or --data-dir "
                     "DATA_DIR [--chain-url URL] to read it from the chain, not both; a proof's own root proves "
                     "nothing")
    if args.chain_url is not None and args.data_dir is None:
        return _fail("--chain-url needs --data-dir (its ledger.json names the MarketSlots address)")
    root, source = args.root, "the --root given"
    if args.data_dir is not None:
        try:
            doc = json.loads(Path(args.verify).read_text(encoding="utf-8"))
            slot, kind = int(doc["slot"]), str(doc["kind"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return _fail(f"invalid proof: cannot read its slot and kind from {args.verify}: {exc}")
        try:
            root = "0x" + recorded_root(args.data_dir, slot, kind, chain_url=args.chain_url).hex()
        except AuditInputError as exc:
            return _fail(str(exc))
        which = "result" if kind == "result" else "order"
        source = f"the {which} root MarketSlots recorded on chain for slot {slot}"
    code, message = verify_proof_file(args.verify, expected_root=root)
    if code == 0:
        message += f"; checked: leaf, signature(s), Merkle path, and the root against {source}"
    print(message, file=sys.stdout if code == 0 else sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Carry out ``transactive ledger proof``; returns the exit code."""
    if args.verify is not None:
        if args.batch is not None or args.account is not None or args.market:
            return _fail("--verify takes only a proof file (and --root or --data-dir)")
        return _verify(args)
    if args.market and args.account is not None:
        return _fail("--market proves the slot's market block, which belongs to no account: drop --account")
    if args.batch is None or (args.account is None and not args.market):
        return _fail("give a batch file and --account or --market (or --verify PROOF)")
    try:
        batch = load_batch(args.batch)
        doc: Any
        if args.market:
            doc = make_proof(batch, "market", "")
        elif args.nonce is not None:
            doc = make_proof(batch, "order", args.account, nonce=args.nonce)
        elif args.result:
            doc = make_proof(batch, "result", args.account)
        elif args.attributes:
            doc = make_proof(batch, "attributes", args.account)
        else:
            doc = proofs_for(batch, args.account)
            if not doc:
                raise LookupError(f"slot {batch.slot}: nothing concerns {args.account}")
    except (ProofError, EncodingError, LookupError) as exc:
        return _fail(str(exc).strip("'\""))
    text = json.dumps(doc, indent=1) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
