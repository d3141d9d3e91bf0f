"""The tests' pandapower oracle: a power flow on a fresh copy of a network, so that a prepared or own solver
can be compared with what pandapower computes from scratch."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from transactive.grid.feeder import _bus_labels


def fresh_flow(net: Any, injections: Sequence[tuple[str, str, float]], *, base_load: bool = False
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(vm_pu, loading_percent)`` of ``injections`` (seller bus, buyer bus, MW: an sgen at the seller, a load at
    the buyer) by ``pandapower.runpp`` on a fresh copy of ``net``, the feeder's own loads off unless
    ``base_load``; None when it does not converge."""
    import pandapower as pp

    fresh = copy.deepcopy(net)
    if not base_load:
        fresh.asymmetric_load["in_service"] = False
    index_of = dict(zip(_bus_labels(fresh), fresh.bus.index.tolist(), strict=True))
    for seller, buyer, p_mw in injections:
        pp.create_sgen(fresh, index_of[seller], p_mw=p_mw)
        pp.create_load(fresh, index_of[buyer], p_mw=p_mw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.runpp(fresh, numba=False)
    except Exception:
        return None
    return (fresh.res_bus["vm_pu"].to_numpy(dtype=np.float64),
            fresh.res_line["loading_percent"].to_numpy(dtype=np.float64))
