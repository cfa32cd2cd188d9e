"""The in-memory array families behind the one evaluator: ``crossbar`` (ReRAM crossbars,
table lookups) and ``sram`` (analog and digital SRAM macros, one unit-gate kernel with an
analog and a digital branch). :func:`costmodel.array_figures.array_figures` is the one
entry point that dispatches to them."""
