"""Train the DQN example with Ray RLlib.

Usage: python dqn_train.py dqn_example/dqn_config.yaml --name dqn
"""

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="YAML configuration file")
    parser.add_argument("--name", default="dqn_example", help="experiment name")
    args = parser.parse_args(argv)
    if not args.config.is_file():
        parser.error(f"configuration file not found: {args.config}")
    print("dqn_train: training is not implemented yet (the DQN example issue is open).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
