"""The exact reference scheduler on hand-built op graphs with hand-derived answers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.opgraph import ITERATED, OP_CHAIN, LayerOps, OpGraph
from costmodel.reference_sim import SimResult, simulate, simulate_opgraph


def layer(index, steps, durations, *, iterations=1, resources=None, energies=None,
          producers=(-1,), need=None):
    resources = dict(resources or {})
    for kind in durations:
        resources.setdefault(kind, f"L{index}.{kind}")
    if need is None:
        need = tuple((-1,) * steps for _ in producers)
    return LayerOps(
        index=index, steps=steps, iterations=iterations, durations_ns=dict(durations),
        energies_nj=dict(energies or {}), resources=resources, producers=tuple(producers),
        need=tuple(tuple(n) for n in need),
    )


def graph(*layers, power=0.0):
    return OpGraph(layers=tuple(layers), static_power_w=power, macs=0)


def rows_by_key(result):
    return {(r[0], r[1], r[2], r[3]): r for r in result.schedule}


def assert_resources_exclusive(result):
    by_res = {}
    for row in result.schedule:
        by_res.setdefault(row[6], []).append((row[4], row[5]))
    for spans in by_res.values():
        spans.sort()
        for (_, e0), (s1, _) in zip(spans, spans[1:]):
            assert s1 >= e0


def expected_deps(g):
    """(layer, step, kind, iteration) -> its dependencies, derived from the rules."""
    by_index = {lay.index: lay for lay in g.layers}
    chains = {}
    for lay in g.layers:
        present = [k for k in OP_CHAIN if lay.durations_ns.get(k, 0) > 0]
        chains[lay.index] = present
    deps = {}

    def exits(lay, s):
        present = chains[lay.index]
        if present[-1] in ITERATED:
            return [(lay.index, s, present[-1], b) for b in range(lay.iterations)]
        return [(lay.index, s, present[-1], 0)]

    for lay in g.layers:
        present = chains[lay.index]
        group = [k for k in present if k in ITERATED]
        its = lay.iterations if group else 1
        for s in range(lay.steps):
            inter = []
            for p, need in zip(lay.producers, lay.need):
                if p != -1 and need[s] >= 0:
                    inter += exits(by_index[p], need[s])
            pre = [k for k in present if OP_CHAIN.index(k) < OP_CHAIN.index("mvm")]
            post = [k for k in present if OP_CHAIN.index(k) > OP_CHAIN.index("shift_add")]
            last = inter
            for k in pre:
                deps[(lay.index, s, k, 0)] = list(last)
                last = [(lay.index, s, k, 0)]
            if group:
                lasts = []
                for b in range(its):
                    before = last
                    for k in group:
                        deps[(lay.index, s, k, b)] = list(before)
                        before = [(lay.index, s, k, b)]
                    lasts += before
                last = lasts
            for k in post:
                deps[(lay.index, s, k, 0)] = list(last)
                last = [(lay.index, s, k, 0)]
    return deps


def assert_dependencies(g, result):
    rows = rows_by_key(result)
    deps = expected_deps(g)
    assert set(rows) == set(deps)
    for key, ds in deps.items():
        for d in ds:
            assert rows[key][4] >= rows[d][5], (key, d)


# --- hand-derived cases ---------------------------------------------------------------


def test_single_step_pipelines_bit_iterations():
    g = graph(layer(0, 1, {"mvm": 10, "adc": 4, "shift_add": 2, "store": 5}, iterations=3))
    r = simulate(g, record=True)
    rows = rows_by_key(r)
    expect = {
        ("mvm", 0): (0, 10), ("adc", 0): (10, 14), ("shift_add", 0): (14, 16),
        ("mvm", 1): (10, 20), ("adc", 1): (20, 24), ("shift_add", 1): (24, 26),
        ("mvm", 2): (20, 30), ("adc", 2): (30, 34), ("shift_add", 2): (34, 36),
        ("store", 0): (36, 41),
    }
    assert {(k, b): (row[4], row[5]) for (_, _, k, b), row in rows.items()} == expect
    assert r.latency_ns == 41
    assert r.interval_ns == 30                # the crossbar's busy time
    assert r.layer_start_ns == (0,) and r.layer_finish_ns == (41,)
    assert r.ops == 10
    assert r.resource_busy_ns == {"L0.mvm": 30, "L0.adc": 12, "L0.shift_add": 6, "L0.store": 5}


def test_load_gates_every_iteration_and_shared_unit_serialises():
    # adc and shift_add share one unit; both mvm wait for the load:
    # mvm0 1-11, adc0 11-15, sa0 15-17, mvm1 11-21, adc1 21-25, sa1 25-27, store 27-28.
    g = graph(layer(0, 1, {"load": 1, "mvm": 10, "adc": 4, "shift_add": 2, "store": 1},
                    iterations=2, resources={"adc": "vec", "shift_add": "vec"}))
    r = simulate(g, record=True)
    rows = rows_by_key(r)
    assert rows[(0, 0, "mvm", 1)][4:6] == (11, 21)
    assert rows[(0, 0, "shift_add", 0)][4:6] == (15, 17)
    assert r.latency_ns == 28
    assert r.resource_busy_ns["vec"] == 12


def test_many_steps_bound_by_slowest_resource():
    steps = 100
    g = graph(layer(0, steps, {"load": 1, "mvm": 10, "adc": 4, "shift_add": 2, "store": 1}))
    r = simulate(g)
    # loads finish at 1, 2, ...; mvms run back to back 1..1001; then adc, sa, store
    assert r.latency_ns == 1 + steps * 10 + 4 + 2 + 1
    assert r.interval_ns == steps * 10
    assert r.ops == 5 * steps

    # B = 2 with adc and shift_add sharing a unit: crossbar busy 20 / step, unit 12 / step
    g = graph(layer(0, steps, {"load": 1, "mvm": 10, "adc": 4, "shift_add": 2, "store": 1},
                    iterations=2, resources={"adc": "vec", "shift_add": "vec"}))
    r = simulate(g, record=True)
    assert_resources_exclusive(r)
    assert_dependencies(g, r)
    assert steps * 20 <= r.interval_ns <= steps * 20 + 40
    assert r.resource_busy_ns["L0.mvm"] == steps * 20


def test_two_layers_pipeline():
    chain = {"load": 1, "mvm": 5, "store": 1}
    steps = 10
    g = graph(
        layer(0, steps, chain),
        layer(1, steps, chain, producers=(0,), need=[range(steps)]),
    )
    r = simulate(g, record=True)
    rows = rows_by_key(r)
    # layer 0 step s stores at 6+5s .. 7+5s; layer 1 step s: load 7+5s, mvm 8+5s, store 13+5s
    for s in range(steps):
        assert rows[(0, s, "store", 0)][4:6] == (6 + 5 * s, 7 + 5 * s)
        assert rows[(1, s, "load", 0)][4:6] == (7 + 5 * s, 8 + 5 * s)
        assert rows[(1, s, "store", 0)][4:6] == (13 + 5 * s, 14 + 5 * s)
    assert r.latency_ns == 59 < 2 * steps * 7
    assert r.layer_start_ns == (0, 7) and r.layer_finish_ns == (52, 59)
    assert r.interval_ns == 50                # each crossbar's busy time
    # a stream of inferences adds exactly that per inference
    assert simulate(g, stream=(2, 5)).interval_ns == 50
    assert_dependencies(g, r)


def test_fc_waits_for_whole_producer():
    g = graph(
        layer(0, 4, {"load": 1, "store": 1}),
        layer(1, 1, {"load": 2, "store": 2}, producers=(0,), need=[(3,)]),
    )
    r = simulate(g)
    # layer 0: load s ends s+1, store s runs s+1..s+2 -> step 3 done at 5
    assert r.layer_start_ns[1] == 5 and r.latency_ns == 9


def test_shared_resource_between_independent_layers():
    g = graph(
        layer(0, 5, {"load": 1, "mvm": 10, "store": 1}, resources={"mvm": "xbar"}),
        layer(1, 5, {"load": 2, "mvm": 7, "store": 1}, resources={"mvm": "xbar"}),
    )
    r = simulate(g, record=True)
    assert r.resource_busy_ns["xbar"] == 85
    assert r.latency_ns >= 85
    assert_resources_exclusive(r)
    assert_dependencies(g, r)


def test_tie_rules():
    # Both mvm are ready at 1 on one resource: the lower layer goes first.
    g = graph(
        layer(1, 1, {"load": 1, "mvm": 5}, resources={"mvm": "x"}),
        layer(0, 1, {"load": 1, "mvm": 5}, resources={"mvm": "x"}),
    )
    rows = rows_by_key(simulate(g, record=True))
    assert rows[(1, 0, "mvm", 0)][4] == 1 and rows[(0, 0, "mvm", 0)][4] == 6
    # Ready first beats layer order: layer 1's op is ready at 1, layer 0's at 2.
    g = graph(
        layer(0, 1, {"load": 2, "mvm": 5}, resources={"mvm": "x"}),
        layer(1, 1, {"load": 1, "mvm": 5}, resources={"mvm": "x"}),
    )
    rows = rows_by_key(simulate(g, record=True))
    assert rows[(1, 0, "mvm", 0)][4] == 1 and rows[(0, 0, "mvm", 0)][4] == 6


def test_energy_and_static():
    g = graph(
        layer(0, 3, {"load": 1, "mvm": 2, "adc": 1, "store": 1}, iterations=4,
              energies={"load": 0.5, "mvm": 2.0, "adc": 0.25, "store": 1.0, "merge": 9.0}),
        layer(1, 2, {"load": 1, "store": 1}, energies={"load": 1.0, "store": 3.0},
              producers=(0,), need=[(0, 2)]),
        power=0.5,
    )
    r = simulate(g)
    by_kind = {"load": 3 * 0.5 + 2 * 1.0, "mvm": 3 * 4 * 2.0, "adc": 3 * 4 * 0.25,
               "store": 3 * 1.0 + 2 * 3.0}
    assert r.energy_by_kind_nj == pytest.approx(by_kind)
    assert r.dynamic_energy_nj == pytest.approx(sum(by_kind.values()))
    assert r.static_energy_nj == pytest.approx(0.5 * r.interval_ns)
    assert r.energy_nj == pytest.approx(r.dynamic_energy_nj + r.static_energy_nj)
    assert r.ops == 3 * (2 + 2 * 4) + 2 * 2


def test_absent_and_zero_kinds_and_alias():
    g = graph(layer(0, 2, {"load": 0, "noc_in": 0.0, "mvm": 3, "addition": 1},
                       iterations=2, resources={"load": "sp"}))
    r = simulate_opgraph(g)
    assert isinstance(r, SimResult) and simulate_opgraph is simulate
    # no pre op: every mvm is ready at 0; addition waits for both iterations' mvm
    assert r.ops == 2 * 3
    assert r.latency_ns == 13  # mvms 0-12 back to back; step 1's addition 12-13
    assert "sp" not in r.resource_busy_ns


def test_malformed_graphs():
    with pytest.raises(ValueError, match="no operation"):
        simulate(graph(layer(0, 1, {"load": 0})))
    with pytest.raises(ValueError, match="has 2 steps"):
        simulate(graph(layer(0, 2, {"load": 1}),
                       layer(1, 1, {"load": 1}, producers=(0,), need=[(2,)])))
    with pytest.raises(ValueError, match="unknown producer"):
        simulate(graph(layer(0, 1, {"load": 1}, producers=(5,), need=[(0,)])))
    with pytest.raises(RuntimeError, match="cyclic"):
        simulate(graph(layer(0, 1, {"load": 1}, producers=(1,), need=[(0,)]),
                       layer(1, 1, {"load": 1}, producers=(0,), need=[(0,)])))


# --- an independent, slow list scheduler to compare against ------------------------------


def naive_schedule(g):
    """Brute-force list scheduling from the rules: at every event time, each free
    resource starts the ready op with the smallest (ready time, layer, step, position)."""
    deps = expected_deps(g)
    order = {lay.index: li for li, lay in enumerate(g.layers)}
    ops = {}
    for lay in g.layers:
        present = [k for k in OP_CHAIN if lay.durations_ns.get(k, 0) > 0]
        group = [k for k in present if k in ITERATED]
        its = lay.iterations if group else 1
        seq = [(k, 0) for k in present if k not in ITERATED and OP_CHAIN.index(k) < OP_CHAIN.index("mvm")]
        seq += [(k, b) for b in range(its) for k in group]
        seq += [(k, 0) for k in present if k not in ITERATED and OP_CHAIN.index(k) > OP_CHAIN.index("shift_add")]
        for s in range(lay.steps):
            for pos, (k, b) in enumerate(seq):
                ops[(lay.index, s, k, b)] = (
                    (order[lay.index], s, pos), lay.durations_ns[k], lay.resources[k])
    end, start, res_free = {}, {}, {}
    t = 0
    while len(start) < len(ops):
        cands = {}
        for key, (prio, d, res) in ops.items():
            if key in start or res_free.get(res, 0) > t:
                continue
            ds = deps[key]
            if all(x in end and end[x] <= t for x in ds):
                ready = max((end[x] for x in ds), default=0)
                cands.setdefault(res, []).append(((ready, prio), key))
        for res, lst in cands.items():
            _, key = min(lst)
            start[key] = t
            end[key] = t + ops[key][1]
            res_free[res] = end[key]
        later = [e for e in end.values() if e > t]
        if not later:
            break
        t = min(later)
    return start


# --- property test -----------------------------------------------------------------------


@st.composite
def op_graphs(draw):
    n = draw(st.integers(1, 4))
    pool = ["r0", "r1", "r2"]
    layers = []
    g_steps = []
    for i in range(n):
        steps = draw(st.integers(1, 6))
        durs = {k: draw(st.integers(0, 5)) for k in OP_CHAIN}
        if not any(durs.values()):
            durs["store"] = 1
        resources = {k: draw(st.sampled_from(pool + [f"own{i}.{k}"])) for k in OP_CHAIN}
        energies = {k: draw(st.integers(0, 3)) / 4 for k in OP_CHAIN}
        if i == 0:
            producers = [-1]
        else:
            producers = draw(st.lists(st.integers(-1, i - 1), min_size=1, max_size=2))
        need = []
        for p in producers:
            top = -1 if p == -1 else g_steps[p] - 1
            vals = sorted(draw(st.lists(st.integers(-1, top), min_size=steps, max_size=steps)))
            need.append(vals)
        layers.append(layer(i, steps, durs, iterations=draw(st.integers(1, 3)),
                            resources=resources, energies=energies,
                            producers=producers, need=need))
        g_steps.append(steps)
    return graph(*layers, power=draw(st.integers(0, 3)) / 2)


@settings(max_examples=150, deadline=None)
@given(op_graphs())
def test_random_graphs(g):
    r = simulate(g, record=True)
    assert_resources_exclusive(r)
    assert_dependencies(g, r)

    # the schedule equals the brute-force list scheduler's, op for op
    rows = rows_by_key(r)
    naive = naive_schedule(g)
    assert {k: row[4] for k, row in rows.items()} == naive

    # bounds: longest dependency path, busiest resource, serial execution
    deps = expected_deps(g)
    finish = {}

    def longest(key):
        if key not in finish:
            own = rows[key][5] - rows[key][4]
            finish[key] = max((longest(d) for d in deps[key]), default=0) + own
        return finish[key]

    crit = max(longest(k) for k in deps)
    busy = {}
    for row in r.schedule:
        busy[row[6]] = busy.get(row[6], 0) + row[5] - row[4]
    assert busy == pytest.approx(r.resource_busy_ns)
    total = sum(row[5] - row[4] for row in r.schedule)
    assert crit <= r.latency_ns <= total
    assert max(busy.values()) <= r.latency_ns
    assert r.ops == len(r.schedule)
    assert r.latency_ns == max(row[5] for row in r.schedule)
    spans = {}
    for row in r.schedule:
        s, e = spans.get(row[0], (float("inf"), 0))
        spans[row[0]] = (min(s, row[4]), max(e, row[5]))
    assert r.layer_start_ns == tuple(spans[lay.index][0] for lay in g.layers)
    assert r.layer_finish_ns == tuple(spans[lay.index][1] for lay in g.layers)
    assert r.interval_ns == max(busy.values())
    energy = sum(lay.energies_nj[row[2]] for lay in g.layers for row in r.schedule
                 if row[0] == lay.index)
    assert r.dynamic_energy_nj == pytest.approx(energy)
    assert r.static_energy_nj == pytest.approx(g.static_power_w * r.interval_ns)
