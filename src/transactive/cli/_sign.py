"""``transactive sign …``: a member's signatures for the multi-settlement desk, made locally with its own key.

* ``sign key`` -- a new private key (hex) and its address, as JSON; keep the key secret;
* ``sign address`` -- the body of ``POST /communities/{c}/addresses``;
* ``sign contract`` -- the ``signature`` of a bilateral contract's terms (a JSON file or ``-``);
* ``sign reading`` -- a meter's signed reading: the body of ``POST /communities/{c}/meter-readings`` (the meter's
  key; ``MeterReading(community, member, slot, energyWh)``, :mod:`transactive.settlement.meter_readings`).

The key is read from ``--key-file`` (hex, optionally ``0x``-prefixed). ``--domain`` (a JSON file, as answered
by ``GET /communities/{c}/signing``'s ``domain``) defaults to the off-chain domain.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    sign = sub.add_parser("sign", help="sign an address registration, a bilateral contract or a meter reading")
    sign_sub = sign.add_subparsers(dest="sign_command", required=True, parser_class=type(sign))
    key = sign_sub.add_parser("key", help="make a new private key and print it with its address (JSON)")
    key.set_defaults(run=_key)
    address = sign_sub.add_parser("address", help="the body of POST /communities/{c}/addresses")
    address.add_argument("--key-file", required=True, help="your private key, hex")
    address.add_argument("--community", required=True)
    address.add_argument("--member", required=True, help="your member id")
    address.add_argument("--domain", help="JSON file with the service's EIP-712 domain (default: off-chain)")
    address.set_defaults(run=_address)
    contract = sign_sub.add_parser("contract", help="your signature of a bilateral contract's terms")
    contract.add_argument("--key-file", required=True, help="your private key, hex")
    contract.add_argument("--terms", required=True,
                          help='JSON file (or - for stdin): {"slot_starts", "energy_kwh_per_slot", "price_per_kwh", '
                               '"nonce"?}')
    contract.add_argument("--seller-address", required=True)
    contract.add_argument("--buyer-address", required=True)
    contract.add_argument("--domain", help="JSON file with the service's EIP-712 domain (default: off-chain)")
    contract.set_defaults(run=_contract)
    reading = sign_sub.add_parser("reading", help="a meter's signed reading: the body of POST .../meter-readings")
    reading.add_argument("--key-file", required=True, help="the meter's private key, hex")
    reading.add_argument("--community", required=True)
    reading.add_argument("--member", required=True, help="whose meter")
    reading.add_argument("--slot-start", required=True, help="ISO 8601 UTC slot start")
    reading.add_argument("--energy-kwh", required=True, type=float,
                         help="net energy over the slot, kWh (+ exported, - imported), a whole number of Wh")
    reading.add_argument("--domain", help="JSON file with the service's EIP-712 domain (default: off-chain)")
    reading.set_defaults(run=_reading)


def _read_key(path: str) -> bytes:
    from transactive.errors import MarketError

    try:
        text = Path(path).read_text(encoding="utf-8").strip().removeprefix("0x")
        key = bytes.fromhex(text)
    except (OSError, ValueError) as exc:
        raise MarketError("--key-file", f"cannot read a hex private key: {exc}") from None
    if len(key) != 32:
        raise MarketError("--key-file", "must hold a 32-byte private key (64 hex digits)")
    return key


def _json_file(path: str, field: str) -> Any:
    from transactive.errors import MarketError

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, ValueError) as exc:
        raise MarketError(field, f"cannot read JSON: {exc}") from None


def _domain(path: str | None) -> Any:
    from transactive.crypto.eip712 import Domain
    from transactive.errors import MarketError
    from transactive.market.multi_signing import OFF_CHAIN_DOMAIN

    if path is None:
        return OFF_CHAIN_DOMAIN
    raw = _json_file(path, "--domain")
    try:
        return Domain.from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise MarketError("--domain", f"not an EIP-712 domain: {exc}") from None


def _key(_args: Any) -> int:
    from transactive.crypto.signing import address_of, new_private_key

    key = new_private_key()
    print(json.dumps({"private_key": "0x" + key.hex(), "address": address_of(key)}))
    return 0


def _address(args: Any) -> int:
    from transactive.crypto.signing import address_of
    from transactive.market.multi_signing import sign_address

    key = _read_key(args.key_file)
    signature = sign_address(key, args.community, args.member, _domain(args.domain))
    print(json.dumps({"address": address_of(key), "signature": signature}))
    return 0


def _contract(args: Any) -> int:
    from transactive.errors import MarketError
    from transactive.market.multi_signing import sign_contract

    terms = _json_file(args.terms, "--terms")
    if not isinstance(terms, dict):
        raise MarketError("--terms", "must be a JSON object")
    key = _read_key(args.key_file)
    print(json.dumps({"signature": sign_contract(key, terms, args.seller_address, args.buyer_address,
                                                 _domain(args.domain))}))
    return 0


def _reading(args: Any) -> int:
    import math

    from transactive.errors import MarketError
    from transactive.market.multi_signing import slot_number
    from transactive.settlement.meter_readings import sign_reading
    from transactive.units import energy_to_wh

    energy_kwh = float(args.energy_kwh)
    if not math.isfinite(energy_kwh) or abs(energy_to_wh(energy_kwh) - energy_kwh * 1000) > 1e-6:
        raise MarketError("--energy-kwh", "must be a finite whole number of Wh (e.g. 1.25)")
    key = _read_key(args.key_file)
    signed = sign_reading(key, args.community, args.member, slot=slot_number(args.slot_start, "--slot-start"),
                          energy_wh=energy_to_wh(energy_kwh), domain=_domain(args.domain))
    print(json.dumps({"slot_start": args.slot_start, "energy_kwh": energy_kwh, "member": args.member,
                      "signature": signed.signature}))
    return 0
