from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.grid.distance import distance_matrix, distance_oracle
from transactive.grid.errors import GridError
from transactive.grid.feeder import Feeder, load_feeder, load_network

FEEDER = load_feeder()
LOADS = list(FEEDER.load_buses)
D = distance_matrix(FEEDER, LOADS)


def _feeder(names: list[str], edges: list[tuple[int, int, float]]) -> Feeder:
    n = len(names)
    e = np.array(edges, dtype=np.float64).reshape(-1, 3)
    return Feeder("t", tuple(names), e[:, 0].astype(int), e[:, 1].astype(int), e[:, 2], (), np.zeros(n), np.zeros(n))


def test_agrees_with_networkx_shortest_paths_on_pandapowers_graph() -> None:
    import pandapower.topology as top

    net = load_network()
    graph = top.create_nxgraph(net, calc_branch_impedances=False)  # weight = length_km, trafo 0
    name_to_index = {str(n): i for i, n in zip(net.bus.index, net.bus["name"], strict=True)}
    for k in range(0, 55, 6):
        lengths = nx.single_source_dijkstra_path_length(graph, name_to_index[LOADS[k]], weight="weight")
        expected = [lengths[name_to_index[b]] * 1000.0 for b in LOADS]
        np.testing.assert_allclose(D[k], expected, rtol=1e-12, atol=1e-9)


def test_adjacent_buses_are_one_line_apart() -> None:
    net = load_network()
    line = net.line.iloc[0]
    a, b = (str(net.bus.at[line[c], "name"]) for c in ("from_bus", "to_bus"))
    assert distance_matrix(FEEDER, [a], [b])[0, 0] == pytest.approx(line["length_km"] * 1000.0, abs=1e-9)


def test_symmetric_zero_diagonal_positive_off_diagonal() -> None:
    np.testing.assert_array_equal(D, D.T)
    assert (np.diag(D) == 0).all()
    off = D[~np.eye(55, dtype=bool)]
    assert (off >= 0).all() and np.isfinite(off).all()
    assert D.max() < FEEDER.length_m.sum()


@settings(max_examples=150)
@given(st.integers(0, 54), st.integers(0, 54), st.integers(0, 54))
def test_triangle_inequality(i: int, j: int, k: int) -> None:
    assert D[i, k] <= D[i, j] + D[j, k] + 1e-9


def test_meshed_graph_parallel_lines_zero_edges_and_islands() -> None:
    # square a-b-c-d-a with a shortcut a-c of 1.5; parallel b-c lines 5 and 1; e joined to d by a 0 m switch
    f = _feeder(
        ["a", "b", "c", "d", "e", "x"],
        [(0, 1, 1.0), (1, 2, 5.0), (1, 2, 1.0), (2, 3, 1.0), (3, 0, 4.0), (0, 2, 1.5), (3, 4, 0.0)],
    )
    d = distance_matrix(f, ["a", "b", "c", "d", "e", "x"])
    assert d[0, 2] == 1.5  # the shortcut, not a-b-c = 2
    assert d[1, 2] == 1.0  # the shorter parallel line
    assert d[0, 3] == 2.5  # a-c-d beats a-d = 4
    assert d[4, 3] == 0.0 and d[4, 0] == 2.5  # the switch joins e to d at no length
    assert np.isinf(d[5, 0]) and d[5, 5] == 0.0  # an island


def test_cache_is_keyed_by_topology() -> None:
    f1 = _feeder(["a", "b", "c"], [(0, 1, 1.0), (1, 2, 2.0)])
    f2 = _feeder(["a", "b", "c"], [(0, 1, 1.0), (1, 2, 2.0)])
    f3 = _feeder(["a", "b", "c"], [(0, 1, 1.0), (1, 2, 7.0)])
    assert distance_oracle(f1) is distance_oracle(f2)
    assert distance_oracle(f3) is not distance_oracle(f1)
    assert distance_matrix(f3, ["a"], ["c"])[0, 0] == 8.0
    assert distance_matrix(f1, ["a"], ["c"])[0, 0] == 3.0


def test_unknown_bus_is_rejected() -> None:
    with pytest.raises(GridError) as err:
        distance_matrix(FEEDER, ["34"], ["nope"])
    assert err.value.field == "bus[0]"


def test_thesis_example_radius_around_vertex_51() -> None:
    """Seed 004 ch. 4.5.1: a user on vertex 51 with a 100 m radius reaches the users on vertices 36, 44, 45,
    46, 48, 49, 53, 56, 59, 61, 63, 66 and 76; those on 65, 72 and 97 are the next option."""
    from transactive.grid.feeder import thesis_vertex_map

    vertex = thesis_vertex_map()
    node = {v: k for k, v in vertex.items()}
    d = distance_matrix(FEEDER, [node[51]], LOADS)[0]
    by_vertex = {vertex[b]: float(x) for b, x in zip(LOADS, d, strict=True) if b != node[51]}
    within = sorted(v for v, x in by_vertex.items() if x <= 100.0)
    assert within == [36, 44, 45, 46, 48, 49, 53, 56, 59, 61, 63, 66, 76]
    beyond = sorted(by_vertex.items(), key=lambda item: item[1])[len(within) : len(within) + 3]
    assert sorted(v for v, _ in beyond) == [65, 72, 97]
