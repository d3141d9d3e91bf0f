"""Grid-aware matching of a cleared double auction (seed 004, ch. 2.2.6 and 4.3): welfare (2.8)-(2.9),
scores (Alg. 3-4), greedy matching (4.5), trades and quotes (4.6)-(4.7).

Everything here is pure: distances come in as a :class:`~transactive.matching.pipeline.DistanceSource`.
"""
