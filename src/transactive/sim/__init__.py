"""Simulation: scenario generators (seed 004 ch. 3.3), running a slot end to end, drawing it."""
