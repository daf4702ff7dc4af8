"""Route set tools: ``python -m rllib_integration.routes {make,show} ...``

- ``make MAP OUT.xml``: a deterministic set of random routes (``RoutePlanner.route_set``) written
  as a leaderboard route file. ``--skip K`` drops the first K routes of the set, so one seed gives
  disjoint training and held-out files (ids stay the set's indices).
- ``show ROUTES MAP``: plan every route of a route file and print its length and turns.

MAP is an OpenDRIVE file (read offline by ``carla.Map``; it must be a valid map) or the
``HOST:PORT`` of a running CARLA (or embedded) server. Errors print one line and exit 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import carla

from .files import FORMS, RouteFileError, read_routes, resolve_route_file, spec_of, write_routes
from .planner import RoutePlanner


def load_map(source: str) -> carla.Map:
    """A ``carla.Map`` from an .xodr file or from the server at HOST:PORT."""
    path = Path(source)
    if path.suffix == ".xodr":
        try:
            return carla.Map(path.stem, path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ValueError(f"cannot read map {source!r}: {error.strerror}") from None
    host, _, port = source.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"map {source!r} is neither an .xodr file nor HOST:PORT")
    client = carla.Client(host, int(port))
    client.set_timeout(20.0)
    try:
        return client.get_world().get_map()
    except RuntimeError as error:
        raise ValueError(f"no CARLA server at {source}: {error}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rllib_integration.routes")
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make", help="write a deterministic set of random routes")
    make.add_argument("map", help="an .xodr file or HOST:PORT of a running server")
    make.add_argument("output", type=Path, help="route file to write")
    make.add_argument("--count", type=int, default=10)
    make.add_argument("--skip", type=int, default=0, help="drop the set's first K routes")
    make.add_argument("--min-length", type=float, default=200.0, help="metres")
    make.add_argument("--max-length", type=float, default=600.0, help="metres")
    make.add_argument("--min-turns", type=int, default=1, help="left or right turns per route")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--town", help="town name in the file (default: the map's)")
    make.add_argument("--form", choices=FORMS, default="2.0", help="leaderboard file form")
    show = sub.add_parser("show", help="plan and summarise the routes of a route file")
    show.add_argument("routes", help="route file, or the name of a shipped set")
    show.add_argument("map", help="an .xodr file or HOST:PORT of a running server")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        planner = RoutePlanner(load_map(args.map))
        if args.command == "make":
            if args.count < 1 or args.skip < 0:
                raise ValueError("--count must be at least 1 and --skip at least 0")
            routes = planner.route_set(
                args.skip + args.count, args.min_length, args.max_length, args.seed, args.min_turns
            )[args.skip :]
            specs = [dataclasses.replace(spec_of(r), town=args.town or r.town) for r in routes]
            write_routes(args.output, specs, args.form)
            lengths = [r.length for r in routes]
            print(
                f"wrote {args.output}: {len(routes)} routes, "
                f"{min(lengths):.0f}-{max(lengths):.0f} m, {sum(lengths) / 1000:.2f} km"
            )
        else:
            for spec in read_routes(resolve_route_file(args.routes)):
                route = planner.plan(spec)
                turns = " ".join(d.name.lower() for d in route.decisions()) or "-"
                print(f"{spec.route_id}\t{spec.town}\t{route.length:7.1f} m\t{turns}")
    except (ValueError, RouteFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
