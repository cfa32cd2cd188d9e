"""Sparsity: zeros in the weights and activations, and the hardware that skips them (MODEL.md section 10).

- :mod:`costmodel.sparsity.support`: the technology file's ``sparsity`` section (what
  zero detectors, skip logic and compaction cost);
- :mod:`costmodel.sparsity.densities`: per weighted layer, the densities a synthesis
  uses (from the model's weights and an activation profile);
- :mod:`costmodel.sparsity.source`: ``--sparsity dense|measured|PROFILE.yaml`` to densities;
- :mod:`costmodel.sparsity.tables`: expected skips per layer, input bits per cycle and
  array size, computed once per (network, technology, densities);
- :mod:`costmodel.sparsity.factors`: the per-design (N, L) factors the resolve step
  multiplies its work by.
"""

#: Sparsity modes of a layer, by code (the searched per-layer column ``sparse_j``).
SPARSE_MODES: tuple[str, ...] = ("none", "gate", "skip", "compact")
