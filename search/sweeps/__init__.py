"""Sweeps: many syntheses as Ray Tune trials into one shared Optuna storage, and their summary."""
