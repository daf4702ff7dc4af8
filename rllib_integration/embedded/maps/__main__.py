"""Map tools: ``python -m rllib_integration.embedded.maps {list,check,export} ...``

- ``list``: every map the embedded server would offer, and where it comes from.
- ``check NAME|PATH``: validate (libcarla in a subprocess) and summarise a map.
- ``export NAME OUT.xodr``: write a map's OpenDRIVE, e.g. a built-in town for a real CARLA server
  (``client.generate_opendrive_world(open(path).read())``).

Errors print one line on stderr and exit with status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .catalog import available_maps, find_map, load_map, read_map
from .validation import MapError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rllib_integration.embedded.maps")
    parser.add_argument("--map-dir", action="append", default=[], help="folder of .xodr files")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the available maps")
    check = sub.add_parser("check", help="validate a map and print a summary")
    check.add_argument("map", help="map name or .xodr path")
    export = sub.add_parser("export", help="write a map's OpenDRIVE to a file")
    export.add_argument("map", help="map name or .xodr path")
    export.add_argument("output", type=Path, help="where to write the .xodr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            for name, source in available_maps(args.map_dir).items():
                print(f"{name}\t{source.path or 'built-in'}")
        elif args.command == "check":
            start = time.perf_counter()
            loaded = load_map(args.map, args.map_dir)
            ground = loaded.ground
            r = loaded.report
            xmin, ymin, xmax, ymax = ground.bounds
            print(
                f"{r.name}: ok in {time.perf_counter() - start:.2f} s; {r.roads} roads, "
                f"{r.junctions} junctions, {r.waypoints} driving waypoints (2 m), "
                f"{r.dead_ends} dead ends, {len(ground.spawn_points())} spawn points, "
                f"{xmax - xmin:.0f} m x {ymax - ymin:.0f} m, sha1 {r.sha1}"
            )
        elif args.command == "export":
            load_map(args.map, args.map_dir)  # refuse to export what would not load
            xodr = read_map(find_map(args.map, args.map_dir))
            try:
                args.output.write_text(xodr, encoding="utf-8")
            except OSError as error:
                raise MapError(f"cannot write {str(args.output)!r}: {error.strerror}") from None
            print(f"wrote {args.output} ({len(xodr)} characters)")
    except MapError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
