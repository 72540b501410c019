"""The scripted agents' navigation tables against an independent implementation (networkx)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from envs.cooking import LAYOUTS, batched_env
from envs.cooking.paths import INF, MAX_FLOOR, build_paths, floor_regions
from envs.render import DIRECTIONS


def _graph(tables, paths) -> nx.Graph:
    """Floor cells as nodes (floor indices), edges between neighbours."""
    graph = nx.Graph()
    graph.add_nodes_from(range(paths.num_floor))
    deltas = DIRECTIONS[:, 0] * tables.padded_width + DIRECTIONS[:, 1]
    for f, cell in enumerate(paths.floor_cells):
        for delta in deltas:
            g = paths.floor_of[cell + delta]
            if g >= 0:
                graph.add_edge(f, int(g))
    return graph


@pytest.mark.parametrize("layout", ["coordination_ring", "forced_coordination", "coordination_optional", "tall_room"])
def test_distances_and_first_moves_match_bfs_with_one_cell_removed(layout):
    tables = batched_env(1, layout=layout).world.tables
    paths = build_paths(tables)
    graph = _graph(tables, paths)
    num = paths.num_floor
    for x in range(num + 1):
        sub = graph.subgraph([n for n in graph if n != x])
        want = np.full((num, num), INF)
        for f, lengths in nx.all_pairs_shortest_path_length(sub):
            for g, d in lengths.items():
                want[f, g] = d
        np.testing.assert_array_equal(paths.dist[x], want, err_msg=f"removed cell {x}")
    # walking the first moves from every f towards every g (avoiding every x) arrives in dist steps, never on x
    nbr = np.stack([paths.floor_of[paths.floor_cells + d] for d in DIRECTIONS[:, 0] * tables.padded_width + DIRECTIONS[:, 1]], axis=1)
    xs, fs, gs = np.meshgrid(np.arange(num + 1), np.arange(num), np.arange(num), indexing="ij")
    cur, steps = fs.copy(), np.zeros_like(fs)
    for _ in range(num):
        a = paths.next_move[xs, cur, gs].astype(np.int64)
        moving = a < 4
        cur = np.where(moving, nbr[cur, np.minimum(a, 3)], cur)
        steps += moving
        assert not ((cur == xs) & (fs != xs)).any()
    reachable = paths.dist < INF
    assert (cur[reachable] == gs[reachable]).all() and (steps[reachable] == paths.dist[reachable]).all()
    assert (steps[~reachable] == 0).all()


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_cut_cells_regions_and_target_costs(layout):
    tables = batched_env(1, layout=layout).world.tables
    paths = build_paths(tables)
    graph = _graph(tables, paths)
    assert set(np.flatnonzero(paths.cut).tolist()) == set(nx.articulation_points(graph))
    cells, region = floor_regions(tables)
    np.testing.assert_array_equal(cells, paths.floor_cells)
    assert len(set(region.tolist())) == nx.number_connected_components(graph)
    is_access = paths.facing >= 0  # (F, T)
    want = np.where(is_access[None, :, :], paths.dist[:, :, :, None], INF).min(axis=2)  # (F+1, F, T)
    np.testing.assert_array_equal(paths.cost, want)
    got = np.take_along_axis(paths.dist, paths.access.astype(np.int64), axis=2)
    np.testing.assert_array_equal(got[paths.cost < INF], paths.cost[paths.cost < INF])


def test_named_layout_facts():
    two_rooms = build_paths(batched_env(1, layout="forced_coordination").world.tables)
    assert two_rooms.reach.shape[0] == 2 and two_rooms.cut.sum() == 2  # the middle cell of each 3-cell room
    ring = build_paths(batched_env(1, layout="coordination_ring").world.tables)
    assert not ring.cut.any() and ring.parking.sum() == 4  # cells next to no pot, dispenser or serving cell


def test_kitchens_too_large_for_the_tables_are_refused():
    side = 20
    rows = [
        "X" * side,
        "O" + " " * (side - 2) + "P",
        "D1" + " " * (side - 4) + "2S",
        *(["X" + " " * (side - 2) + "X"] * (side - 4)),
        "X" * side,
    ]
    env = batched_env(1, layout="\n".join(rows))
    with pytest.raises(ValueError, match=f"at most {MAX_FLOOR} floor cells"):
        build_paths(env.world.tables)
