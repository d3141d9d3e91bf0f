"""A slot end to end: signed bilateral contracts, an Elecbay board reviewed by power flow on the IEEE European
LV feeder, the community auction and the main grid (seed 001's four settlements)."""

from __future__ import annotations

import random

import pytest

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer, new_private_key
from transactive.errors import MarketError
from transactive.grid.feeder import load_feeder, load_network
from transactive.settlement.bilateral import BilateralContract, SignedContract, contracts_in_slot
from transactive.settlement.listings import Board, Listing, ListingOrder, power_flow_check
from transactive.settlement.stages import Prosumer, settle_slot

DOMAIN = Domain(chain_id=31337, verifying_contract="0x" + "cd" * 20)


def test_signed_contracts_power_flow_review_and_settlement() -> None:
    rng = random.Random(11)
    signers = [Signer(new_private_key(rng)) for _ in range(5)]
    pv, ev, home, shop, far = (s.address for s in signers)
    loads = load_feeder().load_buses
    bus_of = {pv: loads[2], ev: loads[3], home: loads[5], shop: loads[0], far: loads[-1]}

    contract = BilateralContract("pv-ev", pv, ev, (8, 9), 1.0, 0.07)
    signed = SignedContract(contract, contract.sign(signers[0], DOMAIN), contract.sign(signers[1], DOMAIN))
    one_sided = BilateralContract("shop-home", shop, home, (8,), 0.5, 0.05)
    shop_only = one_sided.sign(signers[3], DOMAIN)
    with pytest.raises(MarketError) as err:  # the home never consented
        contracts_in_slot([signed, SignedContract(one_sided, shop_only, shop_only)], 8, DOMAIN)
    assert err.value.field == "contracts[1].buyer_signature"

    board = (
        Board()
        .list_all([Listing("L-pv", pv, 8, 2.0, 0.06), Listing("L-far", far, 8, 60.0, 0.04)])
        .place_all([ListingOrder("o-home", "L-pv", home, 1.5), ListingOrder("o-shop", "L-far", shop, 40.0)])
        .review(power_flow_check(load_network(), bus_of, slot_hours=0.25))
    )
    assert board.decisions["o-home"].accepted
    assert not board.decisions["o-shop"].accepted and board.decisions["o-shop"].reason  # 160 kW: overload

    prosumers = [Prosumer(pv, 3.0), Prosumer(ev, -1.2), Prosumer(home, -2.0), Prosumer(shop, -30.0),
                 Prosumer(far, 45.0)]
    s = settle_slot(8, prosumers, contracts=contracts_in_slot([signed], 8, DOMAIN), board=board,
                    mechanism="double_auction_vcg", wholesale_price_per_kwh=0.05)
    line = {x.peer: x.stages for x in s.statements}
    assert line[pv]["bilateral"].sold_wh == 1000 and line[ev]["bilateral"].bought_wh == 1000
    assert line[home]["listings"].bought_wh == 1500
    # the rejected order's energy is traded instead in the auction, between far (surplus) and shop (deficit)
    assert line[far]["auction"].sold_wh > 0 and line[shop]["auction"].bought_wh > 0
    for x in s.statements:
        assert x.traded_wh == x.net_wh
    assert s.balance_micro == 0
