"""``ethogram train CONFIG.yaml [--set key=value ...] [--resume RUN_DIR] [--address ADDR]``.

``--resume RUN_DIR`` continues a run from its last checkpoints with the run's own ``config.yaml``
(or CONFIG.yaml, when given) and the ``--set`` overrides; a config that would train something else
than the run did is refused (``marl.train.check_resume``): only stop conditions, ``checkpoint_every``,
``out_dir`` and resource requests may change.
"""

from __future__ import annotations

import argparse

from experiments.commands._options import add_address, add_set

help = "train concept-bottleneck or baseline PPO agents with RLlib (one parallel trial per seed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="training config YAML (see experiments/train_cramped_room.yaml)")
    add_set(parser, "a config field, e.g. ppo.lr=1e-4 or seeds=[0,1,2]")
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its last checkpoints; only stop conditions (max_env_steps, max_time_s), "
        "checkpoint_every and resources may differ from its config.yaml",
    )
    add_address(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from marl.config import load_config

    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "config.yaml").exists():
            raise FileNotFoundError(f"{run_dir} is not a training run (no config.yaml)")
        cfg = load_config(args.config or run_dir / "config.yaml", args.overrides)
    else:
        if not args.config:
            raise ValueError("give a config YAML, or --resume RUN_DIR")
        cfg = load_config(args.config, args.overrides)
        run_dir = Path(cfg.out_dir)
    from marl.train import train

    summaries = train(cfg, run_dir=run_dir, resume=bool(args.resume), address=args.address)
    for s in summaries:
        done = f"{s['iterations']} iterations, {s['env_steps']:,} env steps, {s['time_s']:.0f}s"
        print(f"[seed {s['seed']}] done: {done}; checkpoint {s['checkpoint']}")
    return 0
