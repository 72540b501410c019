"""The shared specs and config helpers: layouts, selectors, JSON round trips, clear errors."""

from __future__ import annotations

import dataclasses
import json

import pytest

from envs.config import ConfigError, config_from_dict, config_to_dict, replace
from envs.spec import ConceptKind, ConceptSet, ConceptSpec, EnvSpec, EventSpec, ObservationLayout

AGENTS = ("agent_0", "agent_1")


def _concepts() -> ConceptSet:
    return ConceptSet(
        specs=(
            ConceptSpec("agent_0", "position", ConceptKind.POSITION),
            ConceptSpec("agent_0", "holding_onion", ConceptKind.BINARY),
            ConceptSpec("agent_1", "position", ConceptKind.POSITION),
            ConceptSpec("agent_1", "orientation", ConceptKind.CATEGORICAL, classes=("up", "right", "down", "left")),
            ConceptSpec("pot_0", "count", ConceptKind.CATEGORICAL, classes=("0", "1", "2", "3")),
            ConceptSpec("pot_0", "progress", ConceptKind.SCALAR),
        ),
        agents=AGENTS,
    )


def test_slices_follow_both_layouts():
    cs = _concepts()
    assert cs.gt_dim == 2 + 1 + 2 + 1 + 1 + 1
    assert cs.pred_dim == 2 + 1 + 2 + 4 + 4 + 1
    assert cs.gt_slices["agent_1.orientation"] == slice(5, 6)
    assert cs.pred_slices["agent_1.orientation"] == slice(5, 9)
    assert cs.pred_slices["pot_0.progress"] == slice(13, 14)


@pytest.mark.parametrize(
    ("selector", "agent", "expected"),
    [
        ("self.*", "agent_0", {"agent_0.position", "agent_0.holding_onion"}),
        ("teammates.position", "agent_0", {"agent_1.position"}),
        ("objects.*", "agent_1", {"pot_0.count", "pot_0.progress"}),
        ("pot*.count", "agent_1", {"pot_0.count"}),
        ("agents.position", "agent_1", {"agent_0.position", "agent_1.position"}),
        ("agent_1.*", "agent_0", {"agent_1.position", "agent_1.orientation"}),
    ],
)
def test_selectors(selector, agent, expected):
    assert {s.name for s in _concepts().select(selector, agent)} == expected


def test_selector_errors_name_the_valid_choices():
    with pytest.raises(ValueError, match=r"teammates.*position"):
        _concepts().select("teammates.velocity", "agent_0")
    with pytest.raises(ValueError, match="unknown agent 'agent_7'; valid: agent_0, agent_1"):
        _concepts().select("self.*", "agent_7")


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="at least 2 classes"):
        ConceptSpec("pot_0", "count", ConceptKind.CATEGORICAL, classes=("0",))
    with pytest.raises(ValueError, match="duplicate"):
        ConceptSet((ConceptSpec("a", "x", "binary"), ConceptSpec("a", "x", "scalar")), agents=("a",))
    with pytest.raises(ValueError, match="channel_high needs one value"):
        ObservationLayout("global", (2, 2, 2), ("wall", "timer"), high=5, channel_high=(1,))
    with pytest.raises(ValueError, match="channel_high needs one value"):
        ObservationLayout("global", (2, 2, 2), ("wall", "timer"), high=5, channel_high=(1, 6))


def test_channel_highs_default_to_the_common_high():
    assert ObservationLayout("global", (2, 2, 2), ("wall", "timer"), high=5).highs() == (5, 5)
    assert ObservationLayout("global", (2, 2, 2), ("wall", "timer"), high=5, channel_high=[1, 5]).highs() == (1, 5)


def test_env_spec_json_round_trip():
    spec = EnvSpec(
        env_id="cooking",
        agents=AGENTS,
        action_names=("up", "right", "down", "left", "stay", "interact"),
        observation=ObservationLayout("egocentric", (5, 5, 3), ("wall", "agent", "onion"), high=3, channel_high=(1, 1, 3)),
        concepts=_concepts(),
        events=(EventSpec("delivered", "served a soup"),),
        config={"layout": "cramped_room"},
    )
    assert EnvSpec.from_json(spec.to_json()) == spec
    assert json.loads(json.dumps(spec.to_json())) == spec.to_json()  # JSON-native: manifests compare equal after a reload
    with pytest.raises(ValueError, match="malformed env spec"):
        EnvSpec.from_json({k: v for k, v in spec.to_json().items() if k != "agents"})


@dataclasses.dataclass(frozen=True)
class _Inner:
    size: int = 3
    """A size."""


@dataclasses.dataclass(frozen=True)
class _Outer:
    name: str = "x"
    """A name."""
    sizes: tuple[int, ...] = (1, 2)
    """Some sizes."""
    inner: _Inner = _Inner()
    """A nested config."""


def test_config_round_trip_and_unknown_fields():
    cfg = _Outer(name="y", sizes=(4,), inner=_Inner(5))
    assert config_from_dict(_Outer, config_to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match=r"unknown field.*colour.*allowed: name, sizes, inner"):
        config_from_dict(_Outer, {"colour": 1})
    with pytest.raises(ConfigError, match=r"inner: unknown field\(s\) bad"):
        config_from_dict(_Outer, {"inner": {"bad": 1}})
    with pytest.raises(ConfigError, match="unknown field"):
        replace(cfg, nope=1)
