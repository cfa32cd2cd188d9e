"""SRAM in-memory-computing macros (AIMC, DIMC) at the macro level: the technology schema
(``technology.py``), unit-gate building blocks (``gates.py``) and the vectorised kernel
(``macro.py``). Whole networks on them are not modelled yet (segmented execution)."""
