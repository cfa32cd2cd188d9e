"""Technology files: the bundled ``reram`` file, its lookups and every error of ``load_technology``."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costmodel.technology import TECH_DIR, Technology, TechnologyError, adc_bits_required, load_technology

BUNDLED = TECH_DIR / "reram.yaml"
BASE = yaml.safe_load(BUNDLED.read_text())


def write(tmp_path: Path, data, name: str = "tech.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def error_of(source) -> str:
    with pytest.raises(TechnologyError) as info:
        load_technology(source)
    msg = str(info.value)
    assert "\n" not in msg, f"message is not one line: {msg!r}"
    assert msg.strip() == msg and msg
    return msg


def edited(mutate) -> dict:
    data = copy.deepcopy(BASE)
    mutate(data)
    return data


# --- the bundled file -------------------------------------------------------------------

def test_bundled_file_loads_by_name_and_by_path(tech):
    assert isinstance(tech, Technology)
    assert tech.name == "reram-pimsyn"
    assert tech.family == "analog_crossbar"
    by_path = load_technology(BUNDLED)
    by_str = load_technology(str(BUNDLED))
    assert by_path == tech == by_str
    assert load_technology(tech) is tech                     # a Technology passes through
    assert tech.precision.weight_bits == 16 and tech.precision.activation_bits == 16


def test_bundled_options(tech):
    assert tech.xbar_sizes == (128, 256, 512)
    assert tech.cell_bits_options == (1, 2, 4)
    assert tech.dac_bits_options == (1, 2, 4)
    assert [r.bits for r in tech.adc] == [4, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert [s.capacity_kib for s in tech.scratchpad.sizes] == [64, 128, 256, 512, 1024, 2048, 4096]
    assert tech.vector_units.width == 32
    assert tech.scratchpad.bus_width_bits == 1024
    assert tech.noc.flit_bits == 64


def test_crossbar_row_lookup(tech):
    row = tech.crossbar_row(256, 2)
    assert (row.size, row.cell_bits) == (256, 2)
    assert row.static_power_w == pytest.approx(1.2e-4)
    assert row.dynamic_power_w == pytest.approx(10.8e-4)
    assert row.peak_power_w == pytest.approx(1.2e-3)
    assert row.latency_ns == 100
    assert row.energy_nj == pytest.approx(10.8e-4 * 100)
    for size in tech.xbar_sizes:
        for cells in tech.cell_bits_options:
            r = tech.crossbar_row(size, cells)
            assert (r.size, r.cell_bits) == (size, cells)
    with pytest.raises(TechnologyError, match="no crossbar of size 64"):
        tech.crossbar_row(64, 2)
    with pytest.raises(TechnologyError, match="3-bit cells"):
        tech.crossbar_row(128, 3)


def test_dac_row_lookup(tech):
    assert tech.dac_row(2).bits == 2
    assert tech.dac_row(4).latency_ns == 6.0
    with pytest.raises(TechnologyError, match="no 3-bit DAC"):
        tech.dac_row(3)


def test_adc_row_for_picks_next_larger_resolution(tech):
    five = tech.adc_row_for(5)
    assert five.bits == 6                                     # 5 bits -> the 6-bit row
    assert five.static_power_w == pytest.approx(0.2e-4)
    assert five.dynamic_power_w == pytest.approx(1.06e-3)
    assert tech.adc_row_for(8).bits == 8
    assert tech.adc_row_for(1).bits == 4
    assert tech.adc_row_for(14).bits == 14
    assert tech.adc_row_for(15) is None                       # none above 14
    assert tech.adc_row_for(40) is None
    offered = sorted(r.bits for r in tech.adc)
    for need in range(0, 20):
        fits = [b for b in offered if b >= need]
        row = tech.adc_row_for(need)
        assert (row.bits if row else None) == (min(fits) if fits else None)


def test_tables_agree_with_rows(tech):
    tb = tech.tables
    for need in range(65):
        row = tech.adc_row_for(need)
        if row is None:
            assert np.isnan(tb.adc_bits[need]) and np.isnan(tb.adc_latency[need])
        else:
            assert tb.adc_bits[need] == row.bits
            assert tb.adc_peak[need] == pytest.approx(row.static_power_w + row.dynamic_power_w)
            assert tb.adc_latency[need] == row.latency_ns
            assert tb.adc_area[need] == row.area_mm2
    for i, size in enumerate(tech.xbar_sizes):
        for j, cells in enumerate(tech.cell_bits_options):
            row = tech.crossbar_row(size, cells)
            assert tb.xbar_peak[i, j] == pytest.approx(row.peak_power_w)
            assert tb.xbar_latency[i, j] == row.latency_ns
    for i, bits in enumerate(tech.dac_bits_options):
        row = tech.dac_row(bits)
        assert tb.dac_peak[i] == pytest.approx(row.peak_power_w)
    assert list(tb.spad_capacity_kib) == [s.capacity_kib for s in tech.scratchpad.sizes]
    assert list(tb.spad_peak) == [s.leak_power_w for s in tech.scratchpad.sizes]


def _rule(S: int, d: int, c: int) -> int:
    """MODEL.md: log2(S) + d + c - 1 if d > 1 and c > 1 else log2(S) + d + c - 2."""
    log_s = round(math.log2(S))
    return log_s + d + c - 1 if (d > 1 and c > 1) else log_s + d + c - 2


@pytest.mark.parametrize("S", [128, 256, 512])
@pytest.mark.parametrize("d", [1, 2, 4])
@pytest.mark.parametrize("c", [1, 2, 4])
def test_adc_bits_required_rule(S, d, c):
    assert int(adc_bits_required(S, d, c)) == _rule(S, d, c)


def test_adc_bits_required_anchors_and_arrays():
    assert int(adc_bits_required(128, 1, 2)) == 8            # ISAAC: 128x128, 1-bit DAC, 2-bit cells -> 8-bit ADC
    assert int(adc_bits_required(128, 1, 1)) == 7
    assert int(adc_bits_required(128, 2, 2)) == 10
    assert int(adc_bits_required(512, 4, 4)) == 16
    combos = [(S, d, c) for S in (128, 256, 512) for d in (1, 2, 4) for c in (1, 2, 4)]
    S, d, c = (np.array(col) for col in zip(*combos))
    got = adc_bits_required(S, d, c)
    assert got.tolist() == [_rule(*k) for k in combos]


# --- errors of load_technology ------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    msg = error_of(path)
    assert str(path) in msg and "no such technology file" in msg


def test_bundled_name_typo():
    msg = error_of("reramm")
    assert "reramm" in msg and "no such technology file" in msg
    assert "reram" in msg.replace("reramm", "")              # lists the bundled names


def test_directory(tmp_path):
    msg = error_of(tmp_path)
    assert str(tmp_path) in msg and "technology file" in msg


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "name: x\nfamily: analog_crossbar\ncrossbar: [\n  {size: 1\nadc: ]\n")
    msg = error_of(path)
    assert str(path) in msg and "line 5" in msg and "not valid YAML" in msg


def test_invalid_yaml_scanner_error_names_the_line(tmp_path):
    path = write(tmp_path, "name: x\ndescription: 'unterminated\n")
    msg = error_of(path)
    assert str(path) in msg and "line " in msg and "YAML" in msg


def test_list_instead_of_mapping(tmp_path):
    path = write(tmp_path, [dict(BASE)])
    msg = error_of(path)
    assert str(path) in msg and "mapping" in msg and "list" in msg


def test_empty_file(tmp_path):
    path = write(tmp_path, "")
    msg = error_of(path)
    assert str(path) in msg and "mapping" in msg


def test_missing_section(tmp_path):
    path = write(tmp_path, edited(lambda d: d.pop("noc")))
    msg = error_of(path)
    assert str(path) in msg and "'noc'" in msg and "required" in msg.lower() and "missing" in msg


def test_unknown_key(tmp_path):
    path = write(tmp_path, edited(lambda d: d["vector_units"]["pool"].update(statc_power_w=0.1)))
    msg = error_of(path)
    assert str(path) in msg
    assert "vector_units.pool.statc_power_w" in msg
    assert "not permitted" in msg and "0.1" in msg


def test_misspelt_key_names_the_typo(tmp_path):
    """A typo renames a key: the message must name the key the user wrote, not only the
    one now missing, or the user cannot see what to fix."""

    def typo(d):
        pool = d["vector_units"]["pool"]
        pool["statc_power_w"] = pool.pop("static_power_w")

    path = write(tmp_path, edited(typo))
    msg = error_of(path)
    assert str(path) in msg
    assert "vector_units.pool" in msg
    assert "statc_power_w" in msg


def test_negative_power(tmp_path):
    path = write(tmp_path, edited(lambda d: d["adc"][2].update(static_power_w=-1.5)))
    msg = error_of(path)
    assert str(path) in msg and "adc.2.static_power_w" in msg
    assert "greater than or equal to 0" in msg and "-1.5" in msg


def test_zero_latency(tmp_path):
    path = write(tmp_path, edited(lambda d: d["dac"][1].update(latency_ns=0)))
    msg = error_of(path)
    assert str(path) in msg and "dac.1.latency_ns" in msg
    assert "greater than 0" in msg and "value 0" in msg


def test_wrong_type(tmp_path):
    path = write(tmp_path, edited(lambda d: d["noc"].update(hop_latency_ns="fast")))
    msg = error_of(path)
    assert str(path) in msg and "noc.hop_latency_ns" in msg and "'fast'" in msg


def test_crossbar_size_not_power_of_two(tmp_path):
    path = write(tmp_path, edited(lambda d: d["crossbar"][3].update(size=200)))
    msg = error_of(path)
    assert str(path) in msg and "crossbar.3" in msg and "power of two" in msg and "200" in msg


def test_duplicate_adc_rows(tmp_path):
    path = write(tmp_path, edited(lambda d: d["adc"].append(dict(d["adc"][3]))))
    msg = error_of(path)
    assert str(path) in msg and "adc" in msg and "duplicate" in msg and "(8,)" in msg


def test_duplicate_crossbar_rows(tmp_path):
    path = write(tmp_path, edited(lambda d: d["crossbar"].append(dict(d["crossbar"][0]))))
    msg = error_of(path)
    assert str(path) in msg and "crossbar" in msg and "duplicate" in msg and "(128, 1)" in msg


def test_non_ascending_scratchpad(tmp_path):
    path = write(tmp_path, edited(lambda d: d["scratchpad"]["sizes"][2].update(capacity_kib=100)))
    msg = error_of(path)
    assert str(path) in msg and "scratchpad" in msg and "ascending" in msg and "100" in msg


def test_repeated_scratchpad_capacity(tmp_path):
    path = write(tmp_path, edited(lambda d: d["scratchpad"]["sizes"][2].update(capacity_kib=128)))
    msg = error_of(path)
    assert "scratchpad" in msg and "ascending" in msg


def test_wrong_family(tmp_path):
    path = write(tmp_path, edited(lambda d: d.update(family="digital_sram")))
    msg = error_of(path)
    assert str(path) in msg and "'family'" in msg and "analog_crossbar" in msg and "'digital_sram'" in msg


def test_edited_copy_loads(tmp_path):
    """The dump/edit route itself produces loadable files (so the errors above are the edits')."""
    path = write(tmp_path, edited(lambda d: d["noc"].update(hop_latency_ns=2.0)))
    tech = load_technology(path)
    assert tech.noc.hop_latency_ns == 2.0
    assert tech.crossbar == load_technology("reram").crossbar


def _numeric_leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _numeric_leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _numeric_leaves(v, path + (i,))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path


LEAVES = list(_numeric_leaves(BASE))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(leaf=st.sampled_from(LEAVES), value=st.floats(min_value=-1e6, max_value=-1e-3))
def test_any_negative_figure_is_named(tmp_path, leaf, value):
    """Every numeric figure of the file rejects a negative value, naming its key path."""
    value = int(value) - 1 if isinstance(_get(BASE, leaf), int) else value
    data = copy.deepcopy(BASE)
    _get(data, leaf[:-1])[leaf[-1]] = value
    msg = error_of(write(tmp_path, data))
    assert ".".join(str(p) for p in leaf) in msg
    assert "greater than" in msg or "should be 1 or 2" in msg        # a bound, or the allowed values


def _get(node, path):
    for p in path:
        node = node[p]
    return node
