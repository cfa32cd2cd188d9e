"""The two-level synthesis flow (PIMSYN's Algorithm 1): effort presets, the SA filter, the inner search, the outer study, its report and the ablations."""
