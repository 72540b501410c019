"""Roles from event counts, and the analyser's agent-level clusters against them."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.roles import IDLE, describe, episode_roles, roles_vs_clusters, team_roles
from envs import role_events

AGENTS = ("agent_0", "agent_1", "agent_2")
DEFS = {"cleaner": ("cleaned",), "harvester": ("ate_apple",)}


def _table() -> pd.DataFrame:
    """4 episodes: agent_0 cleans (and eats a little), agent_1 eats, agent_2 does nothing; in
    episode 3 agent_0 and agent_1 swap."""
    rows = []
    for episode in range(4):
        swap = episode == 3
        cleaner, harvester = ("agent_1", "agent_0") if swap else ("agent_0", "agent_1")
        row = {"iteration": 7, "episode_id": episode}
        for agent in AGENTS:
            row[f"cleaned_{agent}"] = 120.0 if agent == cleaner else 0.0
            row[f"ate_apple_{agent}"] = 30.0 if agent == harvester else (3.0 if agent == cleaner else 0.0)
        rows.append(row)
    return pd.DataFrame(rows)


def test_team_roles_use_shares_and_mark_idle_agents():
    roles = team_roles(_table(), AGENTS, DEFS)
    assert roles["role"].to_dict() == {"agent_0": "cleaner", "agent_1": "harvester", "agent_2": IDLE}
    assert roles.loc["agent_0", "cleaner_share"] == pytest.approx(0.75)
    assert roles.loc["agent_0", "cleaner_per_episode"] == pytest.approx(90.0)
    assert "agent_0 cleaner (cleaner 75%" in describe(roles)


def test_episode_roles_follow_each_episode():
    roles = episode_roles(_table(), AGENTS, DEFS).set_index(["episode_id", "agent"])["role"]
    assert roles[(0, "agent_0")] == "cleaner" and roles[(3, "agent_0")] == "harvester"
    assert roles[(3, "agent_1")] == "cleaner" and roles[(2, "agent_2")] == IDLE


def test_clusters_against_roles():
    roles = episode_roles(_table(), AGENTS, DEFS)
    perfect = roles[["iteration", "episode_id", "agent"]].assign(
        cluster=roles["role"].map({"cleaner": "A0", "harvester": "A1", IDLE: "A2"})
    )
    result = roles_vs_clusters(roles, perfect)
    assert result["adjusted_rand_index"] == pytest.approx(1.0) and result["units"] == 12
    assert result["clusters"]["A0"] == {"role": "cleaner", "purity": 1.0, "units": 4}
    by_agent = perfect.assign(cluster=perfect["agent"])  # clusters by agent miss the swap in episode 3
    assert roles_vs_clusters(roles, by_agent)["adjusted_rand_index"] < 1.0
    with pytest.raises(ValueError, match="no cluster row matches"):
        roles_vs_clusters(roles, perfect.assign(iteration=99))


def test_missing_event_columns_are_named():
    with pytest.raises(ValueError, match="lacks the role events' columns cleaned_agent_0"):
        team_roles(_table().drop(columns=["cleaned_agent_0"]), AGENTS, DEFS)


def test_worlds_name_their_roles():
    assert role_events("cleanup") == DEFS
    assert role_events("cooking", {"ingredient": "tomato"})["cook"] == ("put_tomato_in_pot",)
