"""Run the trained DQN agent greedily without Ray (pure PyTorch, CPU by default).

Usage: python dqn_inference.py dqn_example/dqn_config.yaml <checkpoint> [--episodes 5] [--video bev.mp4]

<checkpoint> is a checkpoint folder written by dqn_train.py (its qnet/ export is loaded), the
qnet/ folder itself, or an experiment folder (its latest checkpoint). Ray is never imported.
A multi-agent training file runs every agent, each with its policy's network (qnet/<policy>/).
"""

from __future__ import annotations

import sys
from pathlib import Path

from dqn_example.export import EXPORT_DIR, resolve_dqn_checkpoint
from dqn_example.qnet import SPEC_FILE
from rllib_integration.training.checkpoints import SINGLE_MODULE
from rllib_integration.training.inference_cli import base_parser, evaluate, parse_and_load


def export_dir(path: Path) -> Path:
    """The qnet/ folder: given, or the one of a checkpoint (or an experiment's latest)."""
    if (path / SPEC_FILE).is_file() or any(path.glob(f"*/{SPEC_FILE}")):
        return path
    return resolve_dqn_checkpoint(path) / EXPORT_DIR


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("dqn_inference", __doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1...)")
    setup = parse_and_load(parser, argv, export_dir)
    if setup is None:
        return 2
    args, network_dir = setup.args, setup.checkpoint

    import torch

    from dqn_example.qnet import load_qnet

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"argument --device: {args.device} requested but CUDA is not available")

    def make_policy(action_space, module_id: str):
        directory = network_dir if module_id == SINGLE_MODULE else network_dir / module_id
        net = load_qnet(directory, device=args.device)
        print(f"dqn_inference: network {directory} on {args.device}")

        @torch.no_grad()
        def policy(observation) -> int:
            batch = torch.as_tensor(observation, device=args.device).unsqueeze(0)
            return int(net(batch).argmax(dim=-1).item())

        return policy

    return evaluate(setup, make_policy)


if __name__ == "__main__":
    sys.exit(main())
