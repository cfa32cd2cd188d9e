"""``--sparsity dense|measured|PROFILE.yaml``: the densities an evaluation uses (MODEL.md 10).

- ``dense`` (the default): no densities; every weight and input bit counts as non-zero,
  exactly as without sparsity;
- ``measured``: the model's own weights (measured at load) and its activations measured
  now with ONNX Runtime on :data:`MEASURED_INPUTS` standard-normal inputs (seed 0), as
  ``pimtune profile MODEL --random 8`` would;
- a profile file (``pimtune profile``, or written by hand): its activation densities,
  with the model's weights where it holds them.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from costmodel.sparsity.densities import Densities, densities_of
from costmodel.technology import Technology, require_network_family
from onnx_frontend.activation_profile import ProfileError, load_profile, measure_profile
from onnx_frontend.network import Network

MEASURED_INPUTS = 8
DENSE = "dense"
MEASURED = "measured"


def sparsity_densities(spec: str | None, network: Network, tech: Technology,
                       model: onnx.ModelProto | None = None) -> Densities | None:
    """The densities ``spec`` names for ``network`` on ``tech`` (None: dense).

    ``model`` is the ONNX model ``network`` was loaded from (``measured`` runs it).
    Raises ProfileError (one line, with the fix) for a model without weights, a missing
    or malformed profile, or a profile of other layers."""
    if spec is None or spec == DENSE:
        return None
    tech = require_network_family(tech)
    bits, weight_bits = tech.precision.activation_bits, tech.precision.weight_bits
    if spec == MEASURED:
        if model is None or not any(d is not None for d in network.weight_densities):
            raise ProfileError(f"--sparsity measured: {network.name} holds no weights to measure; export the model "
                               "with its weights (a zoo network: pimtune zoo NAME -o FILE.onnx --random-weights), "
                               "give a profile (pimtune profile MODEL -o FILE.yaml), or use --sparsity dense")
        profile = measure_profile(model, network, random=MEASURED_INPUTS, activation_bits=bits)
        return densities_of(network, profile, bits, f"measured (weights; activations: {profile.source})", weight_bits)
    path = Path(spec)
    if path.suffix.lower() not in (".yaml", ".yml") and not path.exists():
        raise ProfileError(f"--sparsity {spec}: not dense, measured or a profile file (.yaml); write one with "
                           f"pimtune profile MODEL -o {spec if path.suffix else spec + '.yaml'}")
    profile = load_profile(path, network)
    weights = "measured weights" if any(d is not None for d in network.weight_densities) else "dense weights"
    return densities_of(network, profile, bits, f"profile {path.name} ({weights})", weight_bits)
