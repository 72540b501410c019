"""Offline analysis of recorded trajectories; never imports ray or marl."""
