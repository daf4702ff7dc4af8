"""Run every route of a route file once and score it: route completion, infractions, Driving
Score, as the CARLA leaderboard does.

    python -m rllib_integration.evaluate CONFIG CHECKPOINT --routes grid01_heldout
    python -m rllib_integration.evaluate CONFIG --agent autopilot --routes routes.xml

CONFIG is a YAML file with an ``env_config``, typically the training file of the checkpoint:
its code (experiment, sensors, RLModule) is imported as the trainer imports it, and an RLlib
checkpoint (``--agent rllib``, the default) acts as in training: on observations adapted for
RLlib's default network unless the file names its own ``rl_module.module_class``, with
continuous actions mapped into the action space as the trainer's env runners map them. Your own
``--agent package.module:function`` gets CHECKPOINT and the env. ``--agent autopilot`` lets
CARLA's Traffic Manager drive instead. Prints a row per route and the means, and writes the
results as JSON in the form of the leaderboard's results file. Works on the embedded server and on CarlaUE4 (the config's
``env_config.carla``). Bad input: one line on stderr, exit status 2; a failed route is scored
(it does not stop the run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rllib_integration.carla_env import CarlaEnv
from rllib_integration.config import ConfigError, add_override_argument
from rllib_integration.routes.files import RouteFileError, read_routes, resolve_route_file
from rllib_integration.routes.results import results_file
from rllib_integration.training.python_path import add_to_sys_path, import_roots
from rllib_integration.training.training_file import (
    apply_overrides,
    load_training_file,
    resolved_env_config,
    validate_sections,
)

from .agents import AUTOPILOT, RLLIB, AgentError, make_policy
from .runner import RouteRunner, VideoError

PROG = "python -m rllib_integration.evaluate"
COLUMNS = f"{'route':<22} {'town':<10} {'completion':>10} {'score':>6} {'time s':>7}  infractions"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="YAML file with an env_config section")
    parser.add_argument("checkpoint", type=Path, nargs="?", help="the agent's checkpoint")
    parser.add_argument(
        "--routes", required=True, help="route file, or a shipped set (grid01_heldout)"
    )
    parser.add_argument(
        "--agent",
        default=RLLIB,
        help=f"{RLLIB} (default), {AUTOPILOT}, or package.module:function(checkpoint, env)",
    )
    parser.add_argument("--output", type=Path, default=Path("results.json"), help="JSON file")
    parser.add_argument("--video", type=Path, metavar="DIR", help="an MP4 per route in DIR")
    parser.add_argument("--seed", type=int, help="seed of the env (NPC traffic, choices)")
    add_override_argument(parser, "env_config.experiment.route.blocked_time=60")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        training_file = load_training_file(args.config)
        apply_overrides(training_file, args.overrides)
        validate_sections(training_file)
        # The config's own code (experiment, sensors, RLModule) imports as in training.
        add_to_sys_path(import_roots(training_file))
        env_config = resolved_env_config(training_file)
        specs = read_routes(resolve_route_file(args.routes))
        if args.agent != AUTOPILOT and args.checkpoint is None:
            raise AgentError(f"--agent {args.agent} needs a CHECKPOINT (or use --agent autopilot)")
    except (ConfigError, RouteFileError, AgentError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    try:
        env: CarlaEnv[Any, Any] = CarlaEnv(
            env_config, render_mode="rgb_array" if args.video else None
        )
    except ValueError as error:  # --video with nothing to film: CarlaEnv says what to add
        print(f"{PROG}: error: --video films what env.render() shows: {error}", file=sys.stderr)
        return 2
    try:
        policy = make_policy(args.agent, args.checkpoint, env, training_file)
        runner = RouteRunner(env, policy, args.agent == AUTOPILOT, args.video, args.seed)
        print(COLUMNS, flush=True)
        records = runner.run(specs, report=lambda r: print(_row(r, specs), flush=True))
    except (AgentError, VideoError, ConfigError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    finally:
        env.close()
    about = {
        "agent": args.agent,
        "config": str(args.config),
        "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "routes": str(args.routes),
        "overrides": args.overrides,
    }
    document = results_file(records, len(specs), about)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {args.output}")
    print(summary_line(records))
    return 0


def _row(record: dict, specs: list) -> str:
    spec = specs[record["index"]]
    scores = record["scores"]
    counts = [f"{k} {len(v)}" for k, v in record["infractions"].items() if v]
    status = record["status"]
    infractions = ", ".join(counts) or "-"
    if status.startswith("Failed") and not any(
        k in status for k in ("deviated", "blocked", "timed")
    ):
        infractions += f" ({status})"
    return (
        f"{record['route_id']:<22} {spec.town:<10} {scores['score_route']:>8.1f} % "
        f"{scores['score_composed']:>6.1f} {record['meta']['duration_game']:>7.1f}  {infractions}"
    )


def summary_line(records: list[dict]) -> str:
    """The table's last line: ``10 routes: route completion 88.0 %, driving score 61.2``."""
    n = len(records)
    completion = sum(r["scores"]["score_route"] for r in records) / n if n else 0.0
    score = sum(r["scores"]["score_composed"] for r in records) / n if n else 0.0
    return f"{n} routes: route completion {completion:.1f} %, driving score {score:.1f}"


if __name__ == "__main__":
    sys.exit(main())
