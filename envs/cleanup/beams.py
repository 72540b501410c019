"""Cleanup beams: ray tables per facing and a vectorised trace over all firing agents at once.

Geometry (the classic open-source Cleanup code, Hughes et al. 2018): a beam of length L and width
W is W parallel rays in the agent's facing direction. The centre ray covers the L cells in front
of the agent; each side ray starts *beside* the agent (lateral offset s = ±1, ±2, ...) and covers
L cells forward from there. The agent's own cell is never in a beam.

Each ray stops (docs/cleanup.md, 'Beams': beams stop at walls and at agents):
- at a wall, which it does not reach;
- at the first agent, which it reaches (a penalty ray hits that agent, a cleaning ray is absorbed);
- a cleaning ray also at the first cell holding waste, which it reaches and cleans (the waste is
  cleaned even if an agent stands on it). Penalty rays pass over waste and apples.

All beams of a step are traced on the same state (after moves, before any effect), so beams are
simultaneous: an agent hit by two beams is hit twice, a waste cell in two cleaning beams is
credited to both firers, and an agent hit in this step still blocks other rays.
"""

from __future__ import annotations

import numpy as np

from envs.cleanup.observe import AGENT_CHANNELS, WALL_CH, WASTE_CH
from envs.render import DIRECTIONS


def ray_offsets(length: int, width: int, wp: int) -> np.ndarray:
    """(4, width, length) int64 flat offsets of every beam cell, per facing (0 up .. 3 left).

    Ray ``i`` has lateral offset ``i - width // 2`` (to the agent's right when positive); cells
    are in the order the ray travels.
    """
    out = np.zeros((4, width, length), dtype=np.int64)
    for facing in range(4):
        forward, right = DIRECTIONS[facing], DIRECTIONS[(facing + 1) % 4]
        for i in range(width):
            side = i - width // 2
            first = 1 if side == 0 else 0
            steps = np.arange(first, first + length)
            cells = side * right[None, :] + steps[:, None] * forward[None, :]  # (L, 2) row/col offsets
            out[facing, i] = cells[:, 0] * wp + cells[:, 1]
    return out


def trace(canvas: np.ndarray, env: np.ndarray, origin: np.ndarray, facing: np.ndarray, offsets: np.ndarray, clean: np.ndarray):
    """Trace the beams of M firing agents at once.

    canvas (K, Hp * Wp, C) uint8; env, origin, facing (M,) int64 — each firer's env, padded cell and
    facing; offsets from ``ray_offsets``; ``clean`` (M, 1, 1) bool — a cleaning beam (else penalty).

    Returns ``cells`` (M, W, L) int64, the padded cell of every ray step, and three (M, W, L) bool
    arrays: ``reached`` (the ray gets there), ``agent`` (an agent stands there) and ``waste``.
    A penalty ray hits ``reached & agent``; a cleaning ray cleans ``reached & waste``.
    """
    cells = origin[:, None, None] + offsets[facing]  # (M, W, L)
    values = canvas[env[:, None, None], cells]  # (M, W, L, C)
    agent = values[..., AGENT_CHANNELS].view(np.uint32)[..., 0] != 0  # the 4 agent channels read as one word
    waste = values[..., WASTE_CH].view(bool)
    wall = values[..., WALL_CH].view(bool)
    stop = agent | (waste & clean) | wall  # the ray ends here (reaching it unless it is a wall)
    stopped = np.empty_like(stop)  # the ray ended before this cell
    stopped[..., 0] = False
    np.logical_or.accumulate(stop[..., :-1], axis=-1, out=stopped[..., 1:])
    return cells, ~(stopped | wall), agent, waste
