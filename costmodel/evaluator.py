"""``evaluate(network, tech, batch, power_w) -> Results``: N designs scored in one call.

Like a pymoo problem, evaluation takes the population as arrays and fills result arrays;
the loops inside run over layers, never over designs. Metrics of infeasible designs are
kept as computed but their ``tops_per_watt``, ``tops_per_watt_single``,
``peak_tops_per_watt`` and ``throughput_ips`` are 0, so that maximising them never prefers an infeasible design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.design import DATAFLOWS, EPITOME_KEYS, SPARSE_MODES, DesignBatch
from costmodel.resolve import REASONS, Resolved, resolve
from costmodel.sparsity.densities import Densities
from costmodel.technology import Technology, load_technology, require_network_family
from costmodel.timing import Timing, pipeline_timing
from onnx_frontend.network import Network


@dataclass
class Results:
    """Metrics of N designs; every array is ``(N,)`` unless noted.

    Units: seconds, joules, watts, mm^2; TOPS = 1e12 operations/s with ops = 2 x MACs.
    ``energy_by_component_j`` maps component -> ``{"static": (N,), "dynamic": (N,)}``.

    Segmented execution (MODEL.md section 8): ``batch`` inferences per segment run,
    ``segments`` per design, ``reloads`` whether its weights are written again (more than
    one segment, or a tiled layer), ``offchip_bytes_per_inference`` its DRAM reads and
    writes, ``reload_energy_j`` the DRAM reads and array writes of its weights per
    inference (``layer_reload_energy_j`` (N, L) per weighted layer), ``reload_time_s``
    the time per batch to load the weights, summed over the segments, and
    ``endurance_inferences`` the inferences until the most rewritten cell reaches the
    technology's ``array_write.endurance_writes`` (NaN when it has no figure or nothing
    is rewritten; ``metrics`` writes None); ``global_buffer_kib`` the capacity of its
    global buffer (KiB; 0 without one); ``dataflow`` (N, L) the designs' dataflow
    codes (``DATAFLOWS``), ``sparse_mode`` (N, L) their sparsity modes (``SPARSE_MODES``;
    MODEL.md section 10) and ``weighted_names`` the weighted layers' names.
    """

    feasible: np.ndarray
    reason: np.ndarray
    latency_s: np.ndarray
    interval_s: np.ndarray
    throughput_ips: np.ndarray
    tops: np.ndarray
    energy_j: np.ndarray
    dynamic_energy_j: np.ndarray
    static_energy_j: np.ndarray
    energy_by_component_j: dict[str, dict[str, np.ndarray]]
    power_avg_w: np.ndarray
    peak_power_w: np.ndarray
    peak_power_by_component_w: dict[str, np.ndarray]
    area_mm2: np.ndarray
    area_by_component_mm2: dict[str, np.ndarray]
    tops_per_watt: np.ndarray
    tops_per_watt_single: np.ndarray
    peak_tops: np.ndarray
    peak_tops_per_watt: np.ndarray
    edp_js: np.ndarray
    batch: np.ndarray
    segments: np.ndarray
    reloads: np.ndarray
    offchip_bytes_per_inference: np.ndarray
    reload_energy_j: np.ndarray
    layer_reload_energy_j: np.ndarray
    reload_time_s: np.ndarray
    endurance_inferences: np.ndarray
    global_buffer_kib: np.ndarray
    dataflow: np.ndarray
    sparse_mode: np.ndarray
    weighted_names: tuple[str, ...]
    resolved: Resolved
    timing: Timing

    def __len__(self) -> int:
        return len(self.feasible)

    def reason_name(self, n: int) -> str:
        return REASONS[int(self.reason[n])]

    def metrics(self, n: int) -> dict:
        """Design ``n``'s metrics as plain JSON-ready values (the ``--json`` form)."""
        return {
            "feasible": bool(self.feasible[n]),
            "reason": self.reason_name(n),
            "tops_per_watt": float(self.tops_per_watt[n]),
            "tops_per_watt_single": float(self.tops_per_watt_single[n]),
            "peak_tops_per_watt": float(self.peak_tops_per_watt[n]),
            "throughput_ips": float(self.throughput_ips[n]),
            "tops": float(self.tops[n]),
            "latency_s": float(self.latency_s[n]),
            "interval_s": float(self.interval_s[n]),
            "energy_j": {
                "total": float(self.energy_j[n]),
                "dynamic": float(self.dynamic_energy_j[n]),
                "static": float(self.static_energy_j[n]),
                "by_component": {
                    c: {k: float(v[n]) for k, v in parts.items()} for c, parts in self.energy_by_component_j.items()
                },
            },
            "power_w": {
                "average": float(self.power_avg_w[n]),
                "peak": float(self.peak_power_w[n]),
                "budget": _finite_or_none(self.resolved.power_w[n]),
                "peak_by_component": {c: float(v[n]) for c, v in self.peak_power_by_component_w.items()},
            },
            "area_mm2": {
                "total": float(self.area_mm2[n]),
                "budget": _finite_or_none(self.resolved.area_budget_mm2[n]),
                "by_component": {c: float(v[n]) for c, v in self.area_by_component_mm2.items()},
            },
            "edp_js": float(self.edp_js[n]),
            "batch": int(self.batch[n]),
            "segments": int(self.segments[n]),
            "reloads": bool(self.reloads[n]),
            "offchip_bytes_per_inference": float(self.offchip_bytes_per_inference[n]),
            "reload_energy_j": float(self.reload_energy_j[n]),
            "reload_time_s": float(self.reload_time_s[n]),
            "endurance_inferences": _finite_or_none(self.endurance_inferences[n]),
            "global_buffer_kib": float(self.global_buffer_kib[n]),
            "adc_bits": _finite_or_none(self.resolved.adc_bits[n]),
            **({"sparsity": self.sparsity_source} if self.resolved.sparse is not None else {}),
            "layers": self.layer_rows(n),
        }

    @property
    def sparsity_source(self) -> str:
        """Where the densities came from (``dense``: none; every input and weight non-zero)."""
        d = self.resolved.densities
        return "dense" if d is None else d.source

    def layer_rows(self, n: int) -> list[dict]:
        """Design ``n``'s weighted layers in network order: name, segment, dataflow (its
        name), weight tiles, the reload energy of its weights per inference (J), its
        ``epitome`` (``{out, in, p, q}``, or None: it stores its full kernel), crossbar
        ``passes`` per output pixel and ``weight_bits`` (MODEL.md section 11)."""
        r = self.resolved
        m = r.layer_map
        full = r.segment.shape
        epitomes = np.broadcast_to(m.stored.shape, full + (4,))[n]
        passes, bits = (np.broadcast_to(v, full)[n] for v in (m.stored.passes, m.weight_bits))
        rows = [{"name": name, "segment": int(r.segment[n, j]), "dataflow": DATAFLOWS[int(self.dataflow[n, j])],
                 "tiles": int(r.tiles.count[n, j]), "reload_energy_j": float(self.layer_reload_energy_j[n, j]),
                 "epitome": dict(zip(EPITOME_KEYS, epitomes[j].tolist())) if epitomes[j, 0] > 0 else None,
                 "passes": int(passes[j]), "weight_bits": int(bits[j])}
                for j, name in enumerate(self.weighted_names)]
        if r.sparse is not None:                                     # what each layer's mode skips
            for j, row in enumerate(rows):
                row["sparsity"] = SPARSE_MODES[int(self.sparse_mode[n, j])]
                row["skipped_share"] = {k: float(v[n, j]) for k, v in r.sparse.skipped.items()}
        return rows


def evaluate(network: Network, tech: Technology | str, batch: DesignBatch, power_w, latency: bool = True,
             area_mm2=None, densities: Densities | None = None) -> Results:
    """Score N designs of ``network`` under a power budget ``power_w`` (W, scalar or (N,))
    and/or an area budget ``area_mm2`` (mm^2); None (or inf) is no budget of that kind.

    Two efficiency conventions: ``tops_per_watt`` is the streaming figure (every inference
    of a stream pays the chip's static power for one pipeline interval);
    ``tops_per_watt_single`` is one inference alone, paying static power for its whole
    latency (the published PIMSYN flow's convention): ops / (dynamic + static W x latency).

    ``latency=False`` skips the layer schedule, which only the latency needs: latency,
    EDP, ``tops_per_watt_single`` and the per-layer times are NaN then, everything else
    is the same. A batch with a design that reloads weights (MODEL.md section 8) is
    always scheduled: its interval needs each segment's latency.

    ``densities`` (:mod:`costmodel.sparsity`, from ``--sparsity``): the zeros the
    designs' per-layer ``sparse_mode`` exploit (MODEL.md section 10); None: dense."""
    tech = require_network_family(load_technology(tech))
    # designs that break the rules (e.g. no copies) compute garbage that their reason flags
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = resolve(network, tech, batch, power_w, area_mm2, densities)
        t = pipeline_timing(r, latency)
    feasible = r.reason == 0
    interval_s = t.interval_ns * 1e-9
    latency_s = t.latency_ns * 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        # in a stream, every inference pays the chip's static power for one interval
        static_j = {c: w * interval_s for c, w in r.static_w.items()}
        dynamic_j = {c: e * 1e-9 for c, e in r.dynamic_nj.items()}
        components = list(dict.fromkeys(list(static_j) + list(dynamic_j)))
        zero = np.zeros(r.n)
        by_component = {c: {"static": static_j.get(c, zero), "dynamic": dynamic_j.get(c, zero)} for c in components}
        static_total = sum(static_j.values())
        dynamic_total = sum(dynamic_j.values())
        energy = static_total + dynamic_total
        ops = 2.0 * network.macs
        throughput = 1.0 / interval_s
        peak_power = sum(r.peak_w.values())
        macs_per_xbar_s = (r.xbar_size * r.array_cols).astype(float) / r.slices / (r.bit_iterations * r.xbar_latency_ns * 1e-9)
        peak_tops = r.chip_crossbars * macs_per_xbar_s * 2 / 1e12
        tops_per_watt = ops / energy / 1e12
        single = ops / (dynamic_total + sum(r.static_w.values()) * latency_s) / 1e12
        return Results(
            feasible=feasible,
            reason=r.reason,
            latency_s=latency_s,
            interval_s=interval_s,
            throughput_ips=np.where(feasible, throughput, 0.0),
            tops=np.where(feasible, ops * throughput / 1e12, 0.0),
            energy_j=energy,
            dynamic_energy_j=dynamic_total,
            static_energy_j=static_total,
            energy_by_component_j=by_component,
            power_avg_w=energy / interval_s,
            peak_power_w=peak_power,
            peak_power_by_component_w=r.peak_w,
            area_mm2=sum(r.area_mm2.values()),
            area_by_component_mm2=r.area_mm2,
            tops_per_watt=np.where(feasible, np.nan_to_num(tops_per_watt), 0.0),
            tops_per_watt_single=np.where(feasible, single, 0.0),
            peak_tops=peak_tops,
            peak_tops_per_watt=np.where(feasible, peak_tops / peak_power, 0.0),
            edp_js=energy * latency_s,
            **_segment_figures(r),
            dataflow=batch.dataflow,
            sparse_mode=batch.sparse_mode,
            weighted_names=tuple(w.name for w in network.weighted_layers),
            resolved=r,
            timing=t,
        )


def _finite_or_none(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _segment_figures(r: Resolved) -> dict:
    """The segmented-execution fields of :class:`Results` (MODEL.md section 8)."""
    o = r.offchip
    L = r.segment.shape[1]
    endurance = r.tech.array_write.endurance_writes
    writes = o.writes_per_cell
    with np.errstate(divide="ignore", invalid="ignore"):
        lasts = np.where(writes > 0, (np.nan if endurance is None else endurance) / writes, np.nan)
    return {
        "batch": r.batch.copy(),
        "segments": r.segment[:, -1] + 1 if L else np.ones(r.n, dtype=np.int64),
        "reloads": o.reloads.any(1) if L else np.zeros(r.n, dtype=bool),
        "offchip_bytes_per_inference": o.dram_bits / 8,
        "reload_energy_j": o.reload_energy_nj.sum(1) * 1e-9,
        "layer_reload_energy_j": o.reload_energy_nj * 1e-9,
        "reload_time_s": o.reload_ns.sum(1) * 1e-9,
        "endurance_inferences": lasts,
        "global_buffer_kib": o.buffer_kib.copy(),
    }
