"""Optuna samplers built on the operators (SA, EA) and the factory that makes any sampler by name."""
