"""The segmented-execution sections of every technology file: ``offchip_memory``,
``global_buffer`` and ``array_write`` (costmodel/memory_hierarchy.py), their figures in the
bundled files and the one-line error of every bad value."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from costmodel.memory_hierarchy import SECTIONS, ArrayWrite, GlobalBuffer, OffchipMemory
from costmodel.families.sram.technology import SramTechnology
from costmodel.technology import TECH_DIR, Technology, TechnologyError, bundled_technologies, load_technology

SECTION_CLASSES = {"offchip_memory": OffchipMemory, "global_buffer": GlobalBuffer, "array_write": ArrayWrite}
#: the keys that must be > 0 (the others are >= 0, but rows_in_parallel_per_macro >= 1)
POSITIVE = {"bandwidth_gbyte_per_s", "capacity_kib", "row_latency_ns", "endurance_writes"}
BASES = {name: yaml.safe_load((TECH_DIR / f"{name}.yaml").read_text()) for name in ("reram", "sram-aimc", "sram-dimc")}
#: (base file, section, key) for every new key of every family
KEYS = [(base, section, key) for base in BASES for section in SECTIONS
        for key, field in SECTION_CLASSES[section].model_fields.items() if field.is_required()]
SRAM_FILES = [n for n in bundled_technologies() if n != "reram"]


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "tech.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def edited(base: str, section: str, key: str | None = None, value=None, *, drop: bool = False) -> dict:
    data = copy.deepcopy(BASES[base])
    if key is None:
        data.pop(section)
    elif drop:
        data[section].pop(key)
    else:
        data[section][key] = value
    return data


def error_of(path: Path) -> str:
    with pytest.raises(TechnologyError) as info:
        load_technology(path)
    msg = str(info.value)
    assert "\n" not in msg, f"message is not one line: {msg!r}"
    assert msg.startswith(str(path)) and msg.strip() == msg
    return msg


# --- the bundled files -------------------------------------------------------------------

@pytest.mark.parametrize("name", bundled_technologies())
def test_every_bundled_file_has_the_three_sections(name):
    tech = load_technology(name)
    for section, cls in SECTION_CLASSES.items():
        assert isinstance(getattr(tech, section), cls), section
    dram, buf, write_ = tech.offchip_memory, tech.global_buffer, tech.array_write
    assert dram.bandwidth_gbyte_per_s > 0 and dram.read_energy_pj_per_bit > 0 and dram.write_energy_pj_per_bit > 0
    assert buf.capacity_kib > 0 and buf.area_mm2 > 0 and buf.leak_power_w > 0
    assert write_.row_latency_ns > 0 and write_.cell_energy_pj > 0 and write_.rows_in_parallel_per_macro >= 1
    # an on-chip buffer bit is far cheaper than a DRAM bit
    assert buf.read_energy_pj_per_bit < dram.read_energy_pj_per_bit / 10


def test_bundled_dram_figures():
    """One DDR4-3200 x64 channel (25.6 GB/s) with ZigZag's 700 / 750 pJ per 64-bit access, in every file."""
    for name in bundled_technologies():
        dram = load_technology(name).offchip_memory
        assert dram.bandwidth_gbyte_per_s == 25.6
        assert dram.read_energy_pj_per_bit == pytest.approx(700 / 64)
        assert dram.write_energy_pj_per_bit == pytest.approx(750 / 64)


def test_reram_global_buffer_is_the_256_kib_scratchpad_row(tech):
    row = next(s for s in tech.scratchpad.sizes if s.capacity_kib == 256)
    buf = tech.global_buffer
    bits = tech.scratchpad.bus_width_bits
    assert buf.capacity_kib == row.capacity_kib
    assert buf.read_energy_nj_per_bit == pytest.approx(row.read_energy_nj / bits, rel=1e-5)
    assert buf.write_energy_nj_per_bit == pytest.approx(row.write_energy_nj / bits, rel=1e-5)
    assert (buf.leak_power_w, buf.area_mm2) == (row.leak_power_w, row.area_mm2)


def test_reram_writes_are_slow_costly_and_wear_out(tech):
    """Program-and-verify: microseconds per row, tens of pJ per cell, 1e6 cycles; SRAM writes
    are one ~1 ns cycle of sub-pJ cells that do not wear out."""
    reram = tech.array_write
    assert reram.endurance_writes == 1e6 and reram.limited_endurance
    assert 1000 <= reram.row_latency_ns <= 100_000 and 10 <= reram.cell_energy_pj <= 1000
    for name in SRAM_FILES:
        sram = load_technology(name).array_write
        assert sram.endurance_writes is None and not sram.limited_endurance
        assert sram.row_latency_ns * 1000 < reram.row_latency_ns
        assert sram.cell_energy_pj * 100 < reram.cell_energy_pj


@pytest.mark.parametrize("name", SRAM_FILES)
def test_sram_writes_follow_the_files_unit_gates(name):
    """row: 20 NAND2 delays; cell: one bitline swing of the column's cells at the file's vdd."""
    tech = load_technology(name)
    g, m = tech.unit_gates, tech.macro
    assert tech.array_write.row_latency_ns == pytest.approx(20 * g.nand2_delay_ns, rel=1e-3)
    cells = m.rows * m.cells_per_weight_group * (8 if tech.name == "AIMC3" else 1)   # AIMC3: 8 bits per weight in a column
    expected = cells * g.cell_bitline_cap_ff * g.vdd_v ** 2 * tech.node.factor / 1000
    assert tech.array_write.cell_energy_pj == pytest.approx(expected, rel=2e-3)
    assert tech.array_write.rows_in_parallel_per_macro == m.banks


def test_both_schemas_share_the_section_classes():
    for schema in (Technology, SramTechnology):
        for section, cls in SECTION_CLASSES.items():
            assert schema.model_fields[section].annotation is cls
            assert schema.model_fields[section].is_required()


def test_unit_conversions():
    dram = OffchipMemory(read_energy_pj_per_bit=10, write_energy_pj_per_bit=12, bandwidth_gbyte_per_s=25.6)
    assert dram.bandwidth_bits_per_ns == pytest.approx(204.8)
    assert (dram.read_energy_nj_per_bit, dram.write_energy_nj_per_bit) == pytest.approx((0.010, 0.012))
    buf = GlobalBuffer(capacity_kib=2, read_energy_pj_per_bit=0.5, write_energy_pj_per_bit=0.25,
                       leak_power_w=0.1, area_mm2=1)
    assert buf.capacity_bits == 2 * 1024 * 8 and buf.peak_power_w == 0.1
    assert (buf.read_energy_nj_per_bit, buf.write_energy_nj_per_bit) == pytest.approx((5e-4, 2.5e-4))
    w = ArrayWrite(row_latency_ns=400, cell_energy_pj=50, rows_in_parallel_per_macro=4, endurance_writes=None)
    assert w.cell_energy_nj == pytest.approx(0.05) and w.rows_per_ns_per_macro == pytest.approx(0.01)
    with pytest.raises(ValidationError):
        w.row_latency_ns = 1                                  # read-only once validated


# --- bad values: one line naming the key ---------------------------------------------------

def _bad_values(section: str, key: str):
    yield "negative", -1
    yield "string", "lots"
    if key in POSITIVE or key == "rows_in_parallel_per_macro":
        yield "zero", 0
    if key == "rows_in_parallel_per_macro":
        yield "fraction", 1.5


BAD = [(base, section, key, kind, value) for base, section, key in KEYS for kind, value in _bad_values(section, key)]


@pytest.mark.parametrize("base, section, key, kind, value", BAD,
                         ids=[f"{b}:{s}.{k}={kind}" for b, s, k, kind, _ in BAD])
def test_a_bad_value_is_one_line_naming_the_key(tmp_path, base, section, key, kind, value):
    msg = error_of(write(tmp_path, edited(base, section, key, value)))
    assert f"'{section}.{key}'" in msg and repr(value) in msg
    if kind in ("negative", "zero"):
        assert "greater than" in msg


@pytest.mark.parametrize("base, section, key", KEYS, ids=[f"{b}:{s}.{k}" for b, s, k in KEYS])
def test_a_missing_key_is_named(tmp_path, base, section, key):
    msg = error_of(write(tmp_path, edited(base, section, key, drop=True)))
    assert f"'{section}.{key}'" in msg and "required" in msg.lower() and "missing" in msg


@pytest.mark.parametrize("base, section, key", KEYS, ids=[f"{b}:{s}.{k}" for b, s, k in KEYS])
def test_a_misspelt_key_is_named(tmp_path, base, section, key):
    data = edited(base, section, key, drop=True)
    data[section][key + "s"] = BASES[base][section][key]
    msg = error_of(write(tmp_path, data))
    assert f"{section}.{key}s" in msg and "not permitted" in msg


@pytest.mark.parametrize("base, section, key", [k for k in KEYS if k[2] not in POSITIVE | {"rows_in_parallel_per_macro"}])
def test_zero_is_accepted_where_it_means_free(tmp_path, base, section, key):
    tech = load_technology(write(tmp_path, edited(base, section, key, 0)))
    assert getattr(getattr(tech, section), key) == 0


@pytest.mark.parametrize("base", BASES)
def test_endurance_null_or_a_count(tmp_path, base):
    assert load_technology(write(tmp_path, edited(base, "array_write", "endurance_writes", None))
                           ).array_write.endurance_writes is None
    assert load_technology(write(tmp_path, edited(base, "array_write", "endurance_writes", 1e12))
                           ).array_write.endurance_writes == 1e12


@pytest.mark.parametrize("name", bundled_technologies())
@pytest.mark.parametrize("section", SECTIONS)
def test_a_missing_section_says_to_copy_it_from_the_bundled_file(tmp_path, name, section):
    data = yaml.safe_load((TECH_DIR / f"{name}.yaml").read_text())
    data.pop(section)
    msg = error_of(write(tmp_path, data))
    bundled = {"analog_crossbar": "reram.yaml", "sram_aimc": "sram-aimc.yaml", "sram_dimc": "sram-dimc.yaml"}
    assert f"key '{section}'" in msg and "missing" in msg
    assert f"copy the '{section}:' section from the bundled file" in msg
    assert str(TECH_DIR / bundled[data["family"]]) in msg


def test_a_file_from_before_the_sections_names_the_first_and_counts_the_rest(tmp_path):
    data = copy.deepcopy(BASES["reram"])
    for section in SECTIONS:
        data.pop(section)
    msg = error_of(write(tmp_path, data))
    assert "'offchip_memory'" in msg and "copy the 'offchip_memory:' section" in msg and msg.endswith("(+2 more)")


# --- properties --------------------------------------------------------------------------

NUMERIC = [(base, section, key) for base, section, key in KEYS]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(NUMERIC), value=st.floats(min_value=-1e12, max_value=-1e-9))
def test_any_negative_value_is_refused_naming_the_key(tmp_path, where, value):
    base, section, key = where
    value = int(value) - 1 if key == "rows_in_parallel_per_macro" else value
    msg = error_of(write(tmp_path, edited(base, section, key, value)))
    assert f"'{section}.{key}'" in msg and "greater than" in msg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(NUMERIC), value=st.floats(min_value=1e-6, max_value=1e12))
def test_any_positive_value_is_kept(tmp_path, where, value):
    base, section, key = where
    value = max(1, int(value)) if key == "rows_in_parallel_per_macro" else value
    tech = load_technology(write(tmp_path, edited(base, section, key, value)))
    assert getattr(getattr(tech, section), key) == value


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("value, words", [
    ([256, 128], "ascending distinct positive"), ([0, 64], "ascending distinct positive"),
    ([64, 64], "ascending distinct positive"), ("lots", "valid list"), ([64, "x"], "valid number"),
])
def test_bad_buffer_options_are_one_line_naming_the_key(tmp_path, base, value, words):
    msg = error_of(write(tmp_path, edited(base, "global_buffer", "capacity_options_kib", value)))
    assert "'global_buffer" in msg and words in msg and "\n" not in msg
