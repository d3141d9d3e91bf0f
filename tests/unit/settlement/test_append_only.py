"""AppendOnly (the listing board's and negawatt events' offer lists): every snapshot keeps its items whatever is
appended to it or to older snapshots later (a tuple model as the oracle), and the Board and add_offer built on
it behave as the copying implementations did: checked against brute-force recomputation, branches included."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.errors import MarketError
from transactive.settlement.append_only import AppendOnly
from transactive.settlement.listings import Board, Decision, Listing, ListingOrder
from transactive.settlement.negawatt import add_offer, announce, parse_spec
from transactive.units import energy_to_wh


def _first_letter(s: str) -> str:
    return s[0]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.lists(st.text("abc", min_size=1, max_size=3), max_size=3)),
                max_size=25))
def test_snapshots_equal_their_tuple_model_under_branching(ops: list[tuple[int, list[str]]]) -> None:
    snapshots: list[AppendOnly[str]] = [AppendOnly(key=_first_letter)]
    models: list[tuple[str, ...]] = [()]
    for pick, items in ops:
        base = pick % len(snapshots)  # extend any earlier snapshot: the newest (in place) or a branch (copied)
        snapshots.append(snapshots[base].extended(items))
        models.append((*models[base], *items))
        for snap, model in zip(snapshots, models, strict=True):  # nothing earlier changed
            assert snap == model and tuple(snap) == model and len(snap) == len(model) and hash(snap) == hash(model)
            assert list(snap[1:]) == list(model[1:]) and (not model or snap[-1] == model[-1])
            for letter in "abcz":
                first = next((x for x in model if x[0] == letter), None)
                assert snap.has_key(letter) == (first is not None) and snap.find(letter) == first
    assert pickle.loads(pickle.dumps(snapshots[-1])) == models[-1]
    with pytest.raises(IndexError):
        AppendOnly(["x"])[1]


def _remaining_brute(board: Board, listing_id: str) -> int:
    taken = sum(o.energy_wh for o in board.orders
                if o.listing_id == listing_id and (o.order_id not in board.decisions
                                                   or board.decisions[o.order_id].accepted))
    return energy_to_wh(board.listing(listing_id).energy_kwh) - taken


def _place_brute(board: Board, order: ListingOrder) -> str | None:
    """The rule of Board.place, recomputed from scratch: the MarketError field it must raise, or None."""
    if any(o.order_id == order.order_id for o in board.orders):
        return "order.order_id"
    listing = next((x for x in board.listings if x.listing_id == order.listing_id), None)
    if listing is None:
        return "listing_id"
    if order.buyer == listing.seller:
        return "order.buyer"
    return "order.energy_kwh" if order.energy_wh > _remaining_brute(board, order.listing_id) else None


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["list", "place", "place", "review"]), st.integers(0, 30),
                          st.integers(0, 2), st.integers(1, 4000), st.integers(0, 3)), max_size=30))
def test_board_list_place_match_brute_force_with_branches(ops: list[tuple[str, int, int, int, int]]) -> None:
    boards = [Board(), Board().list_all([Listing(f"L{j}", f"s{j}", 1, 5.0, 0.1) for j in range(3)])]
    for i, (kind, pick, which, wh, who) in enumerate(ops):
        base = boards[pick % len(boards)]  # often an older board: its state must be as it was
        if kind == "list":
            listing = Listing(f"L{which + 3}", f"s{who}", 1, wh / 1000, 0.1)
            duplicate = any(x.listing_id == listing.listing_id for x in base.listings)
            if duplicate:
                with pytest.raises(MarketError) as info:
                    base.list(listing)
                assert info.value.field == "listing.listing_id"
                continue
            board = base.list(listing)
            assert tuple(board.listings) == (*base.listings, listing)
        elif kind == "place":
            order = ListingOrder(f"o{i % 7}", f"L{(which + pick) % 6}", f"s{(who + i) % 4}", wh / 1000)
            expected = _place_brute(base, order)
            if expected is not None:
                with pytest.raises(MarketError) as info:
                    base.place(order)
                assert info.value.field == expected
                continue
            board = base.place(order)
            assert tuple(board.orders) == (*base.orders, order)
        else:  # the DSO rejects orders of odd Wh: decisions change what is taken
            board = base.review(lambda trades: ("odd",) if energy_to_wh(trades[-1].energy_kwh) % 2 else ())
            assert all(isinstance(d, Decision) for d in board.decisions.values())
        boards.append(board)
        for b in boards:  # every board, old or new, answers from its own orders and decisions
            for x in b.listings:
                assert b.remaining_wh(x.listing_id) == _remaining_brute(b, x.listing_id)


def test_board_equality_and_constructor_accept_tuples() -> None:
    listing, order = Listing("L", "s", 1, 2.0, 0.1), ListingOrder("o", "L", "b", 1.0)
    grown = Board().list(listing).place(order)
    assert grown == Board(listings=(listing,), orders=(order,))
    assert grown.listings == (listing,) and grown.orders == (order,)


def test_add_offer_keeps_one_offer_per_member_across_branches() -> None:
    body = {"id": "e1", "target_kwh": 100, "price_per_kwh": 5, "offers_close": "2026-03-01T08:00:00Z",
            "window_start": "2026-03-01T17:00:00Z", "window_end": "2026-03-01T18:00:00Z"}
    event = announce(parse_spec(body, "dsra", now="2026-03-01T07:00:00Z"))
    now = "2026-03-01T07:30:00Z"
    one = add_offer(event, "p1", {"energy_kwh": 3, "price_per_kwh": 1}, now)
    two = add_offer(one, "p2", {"energy_kwh": 4, "price_per_kwh": 1}, now)
    branch = add_offer(one, "p3", {"energy_kwh": 5, "price_per_kwh": 1}, now)  # from the older event
    assert [o.member for o in two.offers] == ["p1", "p2"] and [o.member for o in branch.offers] == ["p1", "p3"]
    assert [o.member for o in one.offers] == ["p1"] and event.offers == ()
    add_offer(one, "p2", {"energy_kwh": 4, "price_per_kwh": 1}, now)  # p2 offered only in the other branch
    for e, member in ((two, "p2"), (two, "p1"), (branch, "p3")):
        with pytest.raises(MarketError) as info:
            add_offer(e, member, {"energy_kwh": 1, "price_per_kwh": 1}, now)
        assert info.value.field == "member"
