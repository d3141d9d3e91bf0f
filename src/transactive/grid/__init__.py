"""The grid layer: feeders, distances along lines, distribution charges, power-flow checks (DSO)."""
