"""Agents: concept-bottleneck and baseline RLModules, PPO with the concept loss, fast sampling, rollouts, interventions."""
