"""Optuna storages as pimtune uses them: URLs, studies and their identity, leases, journal locks, batched writes."""
