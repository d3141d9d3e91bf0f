"""Drawing a slot on the feeder (matplotlib, Agg backend, PNG).

Lines in grey (from the feeder's bus coordinates), load buses as small dots, sellers as green triangles,
buyers as red circles, each trade as a straight arrow seller → buyer whose width grows with its energy:
blue when the DSO accepted it, dashed orange when curtailed.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection

from transactive.grid.errors import GridError
from transactive.grid.feeder import Feeder, load_feeder
from transactive.sim.slot import SlotOutcome


def draw_slot(
    feeder: Feeder | str, outcome: SlotOutcome, path: str | os.PathLike[str], *, title: str | None = None
) -> None:
    """Write a PNG of the feeder (a :class:`Feeder` or a network name/path) with the slot's trades to ``path``."""
    if isinstance(feeder, str):
        feeder = load_feeder(feeder)
    x, y = feeder.x_m, feeder.y_m
    if not np.isfinite(x).any():
        raise GridError("feeder", "has no bus coordinates to draw")
    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    try:
        ok = np.isfinite(x[feeder.from_bus]) & np.isfinite(x[feeder.to_bus])
        segments = np.stack(
            (
                np.stack((x[feeder.from_bus], y[feeder.from_bus]), axis=1),
                np.stack((x[feeder.to_bus], y[feeder.to_bus]), axis=1),
            ),
            axis=1,
        )[ok & (feeder.length_m > 0)]
        ax.add_collection(LineCollection(list(segments), colors="0.7", linewidths=0.8, zorder=1))
        loads = feeder.index_of(feeder.load_buses)
        ax.scatter(x[loads], y[loads], s=6, c="0.45", zorder=2, label="load bus")
        sc = outcome.scenario
        s_idx = feeder.index_of([str(b) for b in sc.sellers.attributes["bus"]])
        b_idx = feeder.index_of([str(b) for b in sc.buyers.attributes["bus"]])
        ax.scatter(x[s_idx], y[s_idx], marker="^", s=40, c="tab:green", zorder=4, label="seller")
        ax.scatter(x[b_idx], y[b_idx], marker="o", s=30, c="tab:red", zorder=4, label="buyer")
        accepted = set(outcome.accepted)
        energies = [t.energy_kwh for t in outcome.matched.trades]
        top = max(energies, default=1.0) or 1.0
        for k, _trade in enumerate(outcome.matched.trades):
            (sb,) = feeder.index_of([outcome.seller_bus[k]])
            (bb,) = feeder.index_of([outcome.buyer_bus[k]])
            width = 0.6 + 2.4 * energies[k] / top
            keep = k in accepted
            ax.annotate(
                "",
                xy=(x[bb], y[bb]),
                xytext=(x[sb], y[sb]),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": "tab:blue" if keep else "tab:orange",
                    "lw": width,
                    "linestyle": "-" if keep else "--",
                    "alpha": 0.8,
                },
                zorder=3,
            )
        p0 = outcome.matched.price_per_kwh
        n_cut = len(outcome.matched.trades) - len(accepted)
        ax.set_title(
            title
            or f"{sc.name} {sc.behaviour}: p0 = {p0 if p0 is None else round(p0, 4)}, "
            f"{len(outcome.matched.trades)} trades, {n_cut} curtailed"
        )
        ax.set_aspect("equal", adjustable="datalim")
        ax.autoscale_view()
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        fig.savefig(os.fspath(path), format="png")
    finally:
        plt.close(fig)
