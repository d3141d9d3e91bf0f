from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from transactive.grid import feeder as feeder_mod
from transactive.grid.errors import GridError
from transactive.grid.feeder import Feeder, feeder_from_network, load_feeder, load_network, thesis_vertex_map


@pytest.fixture(scope="module")
def pp_net() -> object:
    return load_network("ieee_european_lv")


def test_default_feeder_is_the_ieee_european_lv_test_feeder() -> None:
    f = load_feeder()
    # SEED-NOTES / DESIGN: 906 LV buses (+ the 11 kV source bus), 55 loads, ~1.43 km of line
    assert len(f.bus_names) == 907
    assert len(f.load_buses) == 55
    assert f.source_bus == "SOURCEBUS"
    assert 1400 < float(f.length_m.sum()) < 1450
    assert np.isfinite(f.x_m).all() and np.isfinite(f.y_m).all()


def test_bundled_edge_list_equals_pandapower_network(pp_net: object) -> None:
    fresh = feeder_from_network(pp_net, "ieee_european_lv")
    bundled = load_feeder()
    assert fresh.topology_hash == bundled.topology_hash
    assert fresh.load_buses == bundled.load_buses
    np.testing.assert_array_equal(fresh.x_m, bundled.x_m)


def test_load_buses_are_the_networks_load_buses(pp_net: object) -> None:
    net = pp_net
    names = {str(net.bus.at[b, "name"]) for b in net.asymmetric_load["bus"]}  # type: ignore[attr-defined]
    assert set(load_feeder().load_buses) == names


def test_table_4_3_maps_117_nodes_including_every_load_bus() -> None:
    m = thesis_vertex_map()
    assert len(m) == 117
    assert sorted(m.values()) == list(range(117))
    assert m["1"] == 0 and m["906"] == 116 and m["320"] == 39  # three rows read off Table 4.3
    assert set(load_feeder().load_buses) <= set(m)


def test_in_process_cache_returns_the_same_object() -> None:
    assert load_feeder() is load_feeder()


def test_other_network_by_name_and_disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feeder_mod.clear_caches()
    f = load_feeder("example_simple", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("feeder-*.json"))) == 1
    feeder_mod.clear_caches()

    def boom(name: str) -> object:
        raise AssertionError("the disk cache should have been used")

    monkeypatch.setattr(feeder_mod, "load_network", boom)
    again = load_feeder("example_simple", cache_dir=tmp_path)
    assert again.topology_hash == f.topology_hash
    feeder_mod.clear_caches()


def test_network_by_pandapower_json_path(tmp_path: Path) -> None:
    import pandapower as pp

    net = load_network("example_simple")
    path = tmp_path / "net.json"
    pp.to_json(net, str(path))
    f = load_feeder(str(path))
    assert f.topology_hash == feeder_from_network(net).topology_hash


def test_feeder_json_roundtrip(tmp_path: Path) -> None:
    f = load_feeder()
    path = tmp_path / "feeder.json"
    f.to_json(path)
    assert json.loads(path.read_text())["format"] == "transactive.feeder/1"
    g = load_feeder(str(path))
    assert g.topology_hash == f.topology_hash and g.load_buses == f.load_buses


def test_unknown_network_and_bus_are_rejected_naming_the_field() -> None:
    with pytest.raises(GridError) as err:
        load_feeder("no_such_network_anywhere")
    assert err.value.field == "feeder"
    with pytest.raises(GridError) as err:
        load_feeder().index_of(["34", "nope"])
    assert err.value.field == "bus[1]"


def test_feeder_validation() -> None:
    nan2 = np.full(2, np.nan)
    with pytest.raises(GridError) as err:
        Feeder("t", ("a", "b"), np.array([0]), np.array([1]), np.array([-1.0]), (), nan2, nan2)
    assert err.value.field == "length_m"
    with pytest.raises(GridError) as err:
        Feeder("t", ("a", "b"), np.array([0]), np.array([1]), np.array([1.0]), ("c",), nan2, nan2)
    assert err.value.field == "load_buses[0]"
