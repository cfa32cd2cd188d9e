"""Which sparsity modes a technology's layers may take (MODEL.md section 10).

Modes are codes into :data:`costmodel.sparsity.SPARSE_MODES` (0 none, 1 gate, 2 skip,
3 compact). Operation-unit compaction needs analog arrays, so a digital SRAM array
(``sram_dimc``) offers the first three; every other family offers all four. The
searched ``sparse_j`` columns of a design space and the random designs of the bench
draw from codes ``0 .. mode_count(tech) - 1``.
"""

from __future__ import annotations

from costmodel.sparsity import SPARSE_MODES
from costmodel.technology import Technology


def mode_count(tech: Technology) -> int:
    """How many sparsity modes ``tech``'s layers may take: codes 0..count-1 are valid."""
    return len(SPARSE_MODES) - (tech.family == "sram_dimc")
