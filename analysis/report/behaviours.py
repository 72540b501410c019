"""The behaviours section: what ``ethogram analyze`` found in episodes recorded from the run's checkpoints.

Source: ``analysis.mohba.write`` (summary.json, clustering.json, linking.json, profiles.json,
changepoints.json, concepts.json, clusters_local.csv, figures/*.png).

Rules:
- Team-level (``J*``, the joint latent z^ω) and agent-level (``A*``, the local latents z^α)
  behaviours are tables of size, share and the features that set each cluster apart (mean inside
  vs outside, Cohen's d), as profiles.json gives them; agent-level clusters also show which agent
  falls in which cluster.
- Subsections appear when their file exists and say why they are absent otherwise (one
  checkpoint: no changepoints; a flat model: no team level; concepts skipped or one label bin).
"""

from __future__ import annotations

import re
from typing import Any

from analysis.report import html as H
from analysis.report import numbers as fmt
from analysis.report.collect import Behaviour, RunDir

CAPTIONS = {
    "joint_map": "Team latent z^ω of every unit (first two principal components): left by team-level cluster, right by the {label} label.",
    "local_map": (
        "Agent latents z^α of every agent in every unit (first two principal components):"
        " left by agent-level cluster, right by the {label} label."
    ),
    "linking": (
        "Team-level (left) and agent-level (right) behaviours;"
        " edge width: the share of a team cluster's agents found in each agent cluster."
    ),
    "occupancy_joint": "Share of units in each team-level cluster at each recorded checkpoint; dashed lines: detected changepoints.",
    "occupancy_local": "Share of agent-units in each agent-level cluster at each recorded checkpoint; dashed lines: detected changepoints.",
    "examples": "Example units of each cluster, shown as agent 0's view (or its features) at evenly spaced steps of a window.",
}


def _order(name: str) -> tuple[str, int]:
    m = re.match(r"([A-Za-z]*)(\d+)$", str(name))
    return (m[1], int(m[2])) if m else (str(name), -1)


def _figure(b: Behaviour, stem: str, label: str) -> str:
    path = next((p for p in b.figures if p.stem == stem), None)
    if path is None:
        return ""
    return H.figure(path, CAPTIONS.get(stem, stem.replace("_", " ")).format(label=label), stem.replace("_", " "))


def _feature(f: dict[str, Any]) -> str:
    word = "more" if f["d"] > 0 else "less"
    return f"{word} {f['feature']}: {fmt.num(f['mean_in'])} vs {fmt.num(f['mean_out'])} (d = {fmt.signed(f['d'], 2)})"


def profile_table(profiles: list[dict[str, Any]], level: str) -> str:
    """Clusters with size, share and distinguishing features."""
    rows, attrs = [], []
    for p in sorted(profiles, key=lambda p: _order(p["cluster"])):
        feats = "<br>".join(H.esc(_feature(f)) for f in p.get("features") or ()) or "no feature differs by |d| ≥ 0.5"
        rows.append(
            [
                H.cell(p["cluster"]),
                H.ncell(p["size"], fmt.num(p["size"])),
                H.ncell(p["share"], fmt.percent(p["share"])),
                f'<td class="wrap">{feats}</td>',
            ]
        )
        attrs.append({"data-cluster": p["cluster"]})
    unit = "units" if level == "team" else "agent-units"
    caption = (
        f"{level.capitalize()}-level behaviours: {unit} per cluster and what sets each apart"
        " (mean inside vs outside the cluster, Cohen's d)."
    )
    return H.table(["cluster", unit, "share", "what sets it apart"], rows, caption=caption, row_attrs=attrs)


def _datasets(b: Behaviour) -> str:
    if not b.datasets:
        return "<p>The recorded datasets are not in behaviour/datasets/.</p>"
    rows = [
        [H.cell(d.path), H.cell(d.policy), H.ncell(d.iteration, fmt.num(d.iteration)), H.ncell(d.episodes, fmt.num(d.episodes))]
        for d in b.datasets
    ]
    return H.details(f"The {len(rows)} recorded datasets", H.table(["dataset", "policy", "iteration", "episodes"], rows))


def _overview(b: Behaviour) -> str:
    s = b.summary
    train = s.get("training") or {}
    items = [
        (
            "analysed",
            f"{fmt.num(s['episodes'])} episodes, {fmt.num(s.get('windows'))} windows;"
            f" one unit per {s['unit']} ({fmt.num(s['units'])} units)",
        ),
        ("behaviours", f"{fmt.num(s['k_joint']) if s['k_joint'] is not None else 'no'} team-level, {fmt.num(s['k_local'])} agent-level"),
        (
            "model",
            f"trained in {fmt.duration(train.get('seconds'))}, {fmt.num(train.get('epochs_run'))} epochs"
            f" (best {fmt.num(train.get('best_epoch'))}),"
            f" {fmt.num(train.get('windows_per_s'))} windows/s"
            + (f"; stopped at its cap of {train.get('epochs_cap')} epochs, still improving" if train.get("hit_budget") else ""),
        ),
    ]
    return H.facts(items) + _datasets(b)


def _agents(b: Behaviour) -> str:
    tab = b.local_by_agent
    if tab is None or tab.empty:
        return ""
    cols = sorted(tab.columns, key=_order)
    rows = [[H.cell(agent), *[H.ncell(int(tab.loc[agent, c]), fmt.num(int(tab.loc[agent, c]))) for c in cols]] for agent in tab.index]
    return H.table(
        ["agent", *map(str, cols)], rows, caption="Which agent falls in which agent-level cluster (units per agent and cluster)."
    )


def _roles(b: Behaviour) -> str:
    r = b.roles
    if not r:
        return ""
    roles = sorted(r["roles"])
    contingency = r.get("contingency") or {}
    rows = [
        [
            H.cell(c),
            *[H.ncell(contingency.get(c, {}).get(role, 0), fmt.num(contingency.get(c, {}).get(role, 0))) for role in roles],
            H.cell(info["role"]),
            H.ncell(info["purity"], fmt.percent(info["purity"])),
        ]
        for c, info in sorted(r["clusters"].items(), key=lambda kv: _order(kv[0]))
    ]
    defs = "; ".join(f"{role}: {', '.join(events)}" for role, events in (r.get("role_events") or {}).items())
    cap = (
        f"Agent-level clusters against each agent's role in its episode (the activity of its largest share of the team's: {defs}; "
        f"idle below {fmt.num(r.get('min_count', 1))} per episode). Adjusted Rand index {fmt.fixed(r['adjusted_rand_index'], sign=False)}, "
        f"normalised mutual information {fmt.fixed(r['normalized_mutual_info'], sign=False)} over {fmt.num(r['units'])} units."
    )
    return H.table(["cluster", *roles, "most common role", "purity"], rows, caption=cap)


def _linking(b: Behaviour) -> str:
    if not b.linking:
        return ""
    edges = sorted(b.linking.get("edges") or (), key=lambda e: (_order(e["joint"]), _order(e["local"])))
    rows = [
        [
            H.cell(e["joint"]),
            H.cell(e["local"]),
            H.ncell(e["count"], fmt.num(e["count"])),
            H.ncell(e["share"], fmt.percent(e["share"])),
            H.ncell(e["share_of_local"], fmt.percent(e["share_of_local"])),
            H.ncell(e["lift"], fmt.num(e["lift"])),
        ]
        for e in edges
    ]
    caption = (
        "Agent-units of each team cluster by agent cluster: share of the team cluster's agents,"
        " share of the agent cluster, lift over independence."
    )
    out = H.table(
        ["team cluster", "agent cluster", "agent-units", "share of team cluster", "share of agent cluster", "lift"], rows, caption=caption
    )
    comps = b.linking.get("compositions") or {}
    if comps:
        items = [
            f"<li><b>{H.esc(j)}</b>: "
            + H.esc(", ".join(f"{' + '.join(c['locals'])} ({fmt.percent(c['share'])})" for c in combos))
            + "</li>"
            for j, combos in sorted(comps.items(), key=lambda kv: _order(kv[0]))
        ]
        out += f"<p>Typical team compositions (agent clusters of the agents, in agent order):</p><ul>{''.join(items)}</ul>"
    return out


def _changes(b: Behaviour) -> str:
    if not b.changepoints:
        return "<p>No changepoint analysis: the episodes come from a single checkpoint.</p>"
    rows, quiet, figures = [], [], []
    for level in ("joint", "local"):
        data = b.changepoints.get(level)
        if not data:
            continue
        name = "team" if level == "joint" else "agent"
        rows += [
            [
                H.cell(name),
                H.ncell(c["iteration"], fmt.num(c["iteration"])),
                H.ncell(c["jsd"], fmt.num(c["jsd"])),
                H.ncell(c["p_value"], fmt.p_value(c["p_value"])),
            ]
            for c in data.get("changes") or ()
        ]
        if not data.get("changes"):
            quiet.append(name)
        figures.append(_figure(b, f"occupancy_{level}", ""))
    its = ", ".join(map(str, next(iter(b.changepoints.values())).get("iterations") or ()))
    parts = [f"<p>Cluster occupancy tracked over the checkpoints at iterations {H.esc(its)}.</p>"]
    if rows:
        cap = "A change: cluster occupancy shifts between the checkpoints before and from this iteration (Jensen–Shannon divergence, χ² p)."
        parts.append(H.table(["level", "from iteration", "JSD", "p"], rows, caption=cap))
    if quiet:
        parts.append(f"<p>No change detected at the {' or '.join(quiet)} level.</p>")
    shown = [f for f in figures if f]
    parts.append(f'<div class="pair">{"".join(shown)}</div>' if len(shown) > 1 else "".join(shown))
    return "".join(parts)


def _concepts(b: Behaviour) -> str:
    c = b.concepts
    if not c:
        return "<p>No concept discovery (skipped with --concepts 0, no team latent, or the label has a single bin).</p>"
    shap = list(c.get("shap") or ())
    top = max((abs(v) for v in shap), default=0) or 1.0
    label_means = c.get("label_means") or [[] for _ in shap]
    bins = len(label_means[0]) if label_means and label_means[0] else c.get("bins")
    rows = []
    for i, (v, dist) in enumerate(zip(shap, label_means, strict=False)):
        bar = f'<span class="bar" style="width:{max(1, round(120 * abs(v) / top))}px"></span>'
        where = ", ".join(f"bin {k}: {fmt.percent(p)}" for k, p in enumerate(dist)) if any(dist) else "no unit"
        rows.append([H.cell(f"c{i}"), H.ncell(v, fmt.num(v)), f"<td>{bar}</td>", H.cell(where or fmt.DASH, "wrap")])
    facts = H.facts(
        [
            (
                "label",
                f"{c.get('label')} in {bins} quantile bins (bin 0 lowest; {c.get('bins')} asked, ties merge bins)",
            ),
            ("completeness η", f"{fmt.num(c.get('completeness'))} (1: the concepts explain the label as well as z^ω does)"),
            ("accuracy on z^ω", f"{fmt.percent(c.get('accuracy'), 1)} (majority class {fmt.percent(c.get('baseline'), 1)})"),
        ]
    )
    cap = "ConceptSHAP of each concept direction, and the label distribution of the units where it scores highest."
    return facts + H.table(["concept", "ConceptSHAP", "", "label where it scores highest"], rows, caption=cap)


def _selection(b: Behaviour) -> str:
    if not b.clustering:
        return ""
    rows = []
    for level in ("joint", "local"):
        c = b.clustering.get(level)
        if c:
            scores = ", ".join(f"k={k}: {fmt.num(v, 4)}" for k, v in (c.get("scores") or {}).items())
            rows.append(
                [
                    H.cell(level),
                    H.cell(c.get("method", "")),
                    H.cell(c.get("select", "")),
                    H.ncell(c.get("k"), fmt.num(c.get("k"))),
                    H.cell(scores, "wrap"),
                ]
            )
    return (
        H.details("How the number of clusters was chosen", H.table(["level", "method", "criterion", "k", "score per k"], rows))
        if rows
        else ""
    )


def section(rd: RunDir, missing: str) -> H.Section:
    parts = [H.note(p, error=True) for p in rd.problems.get("behaviour", [])]
    b = rd.behaviour
    if b is None:
        parts.append(H.note(missing))
        return H.Section("behaviours", "Behaviours", "".join(parts))
    label = (b.concepts or {}).get("label", "return")
    profiles = b.profiles or {}
    blocks = [("beh-overview", "Data and model", _overview(b))]
    if profiles.get("joint"):
        blocks.append(("beh-team", "Team-level behaviours", profile_table(profiles["joint"], "team") + _figure(b, "examples", label)))
    elif b.summary.get("k_joint") is None:
        blocks.append(
            (
                "beh-team",
                "Team-level behaviours",
                "<p>None: the analyser ran as a flat model (no team latent).</p>" + _figure(b, "examples", label),
            )
        )
    if profiles.get("local"):
        blocks.append(("beh-agent", "Agent-level behaviours", profile_table(profiles["local"], "agent") + _agents(b) + _roles(b)))
    elif not profiles:
        blocks.append(("beh-agent", "Cluster profiles", H.note("behaviour/analysis/profiles.json is absent: no cluster descriptions.")))
    if b.linking:
        blocks.append(("beh-linking", "Linking team and agent behaviours", _linking(b) + _figure(b, "linking", label)))
    maps = _figure(b, "joint_map", label) + _figure(b, "local_map", label)
    if maps:
        blocks.append(("beh-maps", "Latent maps", maps))
    blocks.append(("beh-changes", "Changes across checkpoints", _changes(b)))
    blocks.append(("beh-concepts", "Concept discovery", _concepts(b) + _selection(b)))
    parts += [f'<h3 id="{a}">{H.esc(t)}</h3>{body}' for a, t, body in blocks]
    return H.Section("behaviours", "Behaviours", "".join(parts), tuple((a, t) for a, t, _ in blocks))
