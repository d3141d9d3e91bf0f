"""Bounds on an order's magnitudes at intake: what a member's connection can carry in one slot, and a price cap.

The market file's own limits (:data:`transactive.marketfile.MAX_ENERGY_KWH`, 1e9 kWh) keep numbers finite but
let one order dominate a slot: ``energy_kwh: 1e9, price_per_kwh: 1e9`` was accepted and took all the supply at
a price nobody could pay. The service bounds each block by the community limits below (members carry no
connection capacity of their own in the store yet; when they do, it replaces :data:`MAX_CONNECTION_KW`):

* energy: at most ``MAX_CONNECTION_KW`` kW for the slot's length, ``E <= P_max * slot_minutes / 60`` kWh
  (250 kWh in a 15-minute slot);
* price: at most :data:`MAX_PRICE_PER_KWH` tokens per kWh (the seeds' prices are below 30).

Example:
    >>> max_order_energy_kwh(15)
    250.0
    >>> order_bound_error(300.0, 0.2, 15)
    ('energy_kwh', 'must be <= 250 kWh (a 1000 kW connection over a 15-minute slot), got 300')
"""

from __future__ import annotations

MAX_CONNECTION_KW = 1_000.0  # the community limit on a member's connection (kW)
MAX_PRICE_PER_KWH = 1_000.0  # tokens per kWh


def max_order_energy_kwh(slot_minutes: int, connection_kw: float = MAX_CONNECTION_KW) -> float:
    """The most energy one block may offer or ask in a slot of ``slot_minutes``: ``P * slot_minutes / 60`` kWh."""
    return connection_kw * slot_minutes / 60


def order_bound_error(energy_kwh: float, price_per_kwh: float, slot_minutes: int) -> tuple[str, str] | None:
    """``(field, message)`` when a block breaks a bound (field relative to the block), else None."""
    limit = max_order_energy_kwh(slot_minutes)
    if energy_kwh > limit:
        return ("energy_kwh", f"must be <= {limit:g} kWh (a {MAX_CONNECTION_KW:g} kW connection over a "
                f"{slot_minutes}-minute slot), got {energy_kwh:g}")
    if price_per_kwh > MAX_PRICE_PER_KWH:
        return ("price_per_kwh", f"must be <= {MAX_PRICE_PER_KWH:g} tokens per kWh, got {price_per_kwh:g}")
    return None
