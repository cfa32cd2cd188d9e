"""SRAM in-memory-computing macros (AIMC, DIMC) at the macro level: the technology schema
(``technology.py``), unit-gate building blocks (``gates.py``), the vectorised kernel
(``macro.py``) and a family's macro design space (``macro_space.py``: a geometry grid
costed in one call, its Pareto front of peak TOPS/W and TOPS/mm^2). Whole networks on
them are not modelled yet (segmented execution)."""
