"""Hierarchical behaviour analysis of recorded multi-agent trajectories, after MOHBA.

Omidshafiei et al. 2022, "Beyond Rewards: a Hierarchical Perspective on Offline Multiagent
Behavioral Analysis" (docs/methods.md, 'MOHBA'). Offline and model-agnostic: only trajectories
are read (``analysis.dataset``), never policies; this package never imports ray or marl.

The stages, in the order of the analysis, each a module that imports only the ones before it
(``tests/test_imports.py`` holds them to it):
- ``features``: per-agent step features (concepts, previous events and action; raw views optional), windows, the standardiser;
- ``model``: the hierarchical VAE (joint z^ω per team window, local z^α per agent, learned mixture prior p(z^α | z^ω));
- ``fit``: β-weighted ELBO with cyclical β, early stopping; the model saved and loaded (safetensors + JSON);
- ``encode``: episodes → windows → posterior means → latents per unit (episode or window): ``Analyser``, ``Units``;
- ``cluster``: clusters at both levels (k by BIC or silhouette), the joint ↔ local linking graph: ``Behaviours``;
- ``saved``: a run's model and clusters kept in one folder and reopened to analyse new episodes;
- ``describe``: per-cluster concept/event profiles, occupancy changepoints, labels and concept directions;
- ``write``: everything ``ethogram analyze`` writes (tables, summary, figures); ``run_analysis``, ``run_saved``.
Libraries of a stage, importing no stage: ``changepoints`` (occupancy shift detectors) and ``concepts``
(concept directions, completeness and ConceptSHAP, Yeh et al. 2020) for ``describe``; ``figures`` (PNG) for ``write``.
"""
