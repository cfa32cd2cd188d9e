"""Study reports: plots and tables built from costed designs (the AIMC-vs-DIMC study:
``macro_space_report`` at the macro level, ``family_fronts`` at the network level)."""
