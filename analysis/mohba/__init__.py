"""Hierarchical behaviour analysis of recorded multi-agent trajectories, after MOHBA.

Omidshafiei et al. 2022, "Beyond Rewards: a Hierarchical Perspective on Offline Multiagent
Behavioral Analysis" (docs/methods.md, 'MOHBA'). Offline and model-agnostic: only trajectories
are read (``analysis.dataset``), never policies; this package never imports ray or marl.

Modules, in the order of the analysis:
- ``features``: per-agent step features (concepts, previous events and action; raw views optional) and windows;
- ``model``: the hierarchical VAE (joint z^ω per team window, local z^α per agent, learned mixture prior p(z^α | z^ω));
- ``train``: β-weighted ELBO with cyclical β, early stopping, encoding, safetensors + JSON I/O;
- ``pipeline``: episodes → trained analyser → latents per unit (episode or window) → behaviours;
- ``behaviours``: clusters at both levels (k by BIC or silhouette) and the joint ↔ local linking graph;
- ``changepoints``: cluster occupancy per training checkpoint and its shifts;
- ``concepts``: per-cluster concept/event profiles; concept directions, completeness and ConceptSHAP (Yeh et al. 2020);
- ``figures``, ``report``: PNG figures and everything ``ethogram analyze`` writes.
"""
