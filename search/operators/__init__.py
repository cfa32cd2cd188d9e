"""The search operators on design matrices: simulated annealing over duplication, PIMSYN's evolutionary algorithm over macro partitioning."""
