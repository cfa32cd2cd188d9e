"""Technology data, design batches, the vectorised evaluator and the reference scheduler.

``evaluate(network, tech, batch, power_w)`` scores N designs per call (MODEL.md);
``simulate(to_opgraph(resolve(...), n))`` schedules one design exactly.
"""

from costmodel.design import COMPONENTS, DesignBatch, DesignError, load_design, save_design
from costmodel.evaluator import Results, evaluate
from costmodel.opgraph import OpGraph, to_opgraph
from costmodel.reference_designs import REFERENCE_DESIGNS, reference_design
from costmodel.reference_sim import SimResult, simulate
from costmodel.resolve import REASONS, Resolved, resolve
from costmodel.technology import Technology, TechnologyError, load_technology

__all__ = [
    "COMPONENTS", "DesignBatch", "DesignError", "OpGraph", "REASONS", "REFERENCE_DESIGNS", "Resolved",
    "Results", "SimResult", "Technology", "TechnologyError", "evaluate", "load_design", "load_technology",
    "reference_design", "resolve", "save_design", "simulate", "to_opgraph",
]
