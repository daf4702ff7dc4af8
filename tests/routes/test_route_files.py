"""Leaderboard route files: both XML forms round-trip, bad files get one clear error, and the
route sets shipped with the package are what they claim (planned through the real client)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rllib_integration.routes import (
    Keypoint,
    RouteFileError,
    RouteSpec,
    bundled_route_files,
    read_routes,
    resolve_route_file,
    write_routes,
)
from tests.conftest import ROOT, run_module
from tests.routes.helpers import run_routes

SPECS = [
    RouteSpec(
        "0",
        "Town01",
        (
            Keypoint(338.7027893066406, 226.75003051757812, 0.0, 269.9790954589844, 360.0, 0.0),
            Keypoint(321.98931884765625, 194.67242431640625, 0.5, 179.83230590820312),
        ),
    ),
    RouteSpec("12", "Grid01", (Keypoint(-100.0, -148.25), Keypoint(-51.75, -100.0, 1.25, 90.0))),
]


def test_the_1_0_form_round_trips_every_pose_field(tmp_path):
    path = tmp_path / "routes.xml"
    write_routes(path, SPECS, form="1.0")
    text = path.read_text()
    assert "<waypoint " in text and "<position" not in text
    assert read_routes(path) == SPECS


def test_the_2_0_form_round_trips_positions(tmp_path):
    path = tmp_path / "routes.xml"
    write_routes(path, SPECS, form="2.0")
    text = path.read_text()
    assert "<waypoints>" in text and "<position " in text and "<scenarios" in text
    # Positions only: headings are not part of the 2.x form.
    positions = [
        RouteSpec(s.route_id, s.town, tuple(Keypoint(k.x, k.y, k.z) for k in s.keypoints))
        for s in SPECS
    ]
    assert read_routes(path) == positions


def test_a_leaderboard_2_file_with_weathers_and_scenarios_reads(tmp_path):
    path = tmp_path / "lb2.xml"
    path.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<routes>
   <route id="3" town="Town12">
      <weathers>
         <weather route_percentage="0" cloudiness="5.0" precipitation="0.0"/>
      </weathers>
      <waypoints>
         <position x="983.5" y="5382.2" z="371"/>
         <position x="824.2" y="5575.3" z="371"/>
         <position x="605.5" y="5575.5" z="370"/>
      </waypoints>
      <scenarios>
         <scenario name="ControlLoss_1" type="ControlLoss">
            <trigger_point x="906.9" y="5431.6" z="371.3" yaw="128.7"/>
         </scenario>
      </scenarios>
   </route>
   <route id="4" town="Town01">
      <waypoint pitch="0.0" roll="0.0" x="1.5" y="2.5" yaw="90.0" z="0.0" />
      <waypoint pitch="0.0" roll="0.0" x="1.5" y="80.0" yaw="90.0" z="0.0" />
   </route>
</routes>
"""
    )
    routes = read_routes(path)
    assert [(r.route_id, r.town, len(r.keypoints)) for r in routes] == [
        ("3", "Town12", 3),
        ("4", "Town01", 2),
    ]
    assert routes[0].keypoints[2] == Keypoint(605.5, 5575.5, 370.0)
    assert routes[1].keypoints[0].yaw == 90.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("<routes><route", "is not valid XML"),
        ("<route id='0' town='T'/>", "root element is <route>, not <routes>"),
        ("<routes/>", "has no <route>"),
        (
            "<routes><route id='0'><waypoints><position x='1' y='2' z='0'/>"
            "<position x='3' y='4' z='0'/></waypoints></route></routes>",
            "route '0': missing attribute 'town'",
        ),
        (
            "<routes><route id='7' town='T'><waypoints><position x='1' z='0'/>"
            "</waypoints></route></routes>",
            "route '7': <position> without 'y'",
        ),
        (
            "<routes><route id='7' town='T'><waypoint x='1' y='two' z='0' yaw='0'/>"
            "<waypoint x='1' y='2' z='0' yaw='0'/></route></routes>",
            "route '7': <waypoint> y='two' is not a number",
        ),
        (
            "<routes><route id='7' town='T'><waypoint x='nan' y='1' z='0'/>"
            "<waypoint x='1' y='2' z='0'/></route></routes>",
            "x='nan' is not finite",
        ),
        (
            "<routes><route id='7' town='T'><waypoint x='1' y='1' z='0'/></route></routes>",
            "route '7': needs at least 2 waypoints, has 1",
        ),
        (
            "<routes>"
            + "<route id='1' town='T'><waypoint x='1' y='1' z='0'/><waypoint x='2' y='1' z='0'/></route>"
            * 2
            + "</routes>",
            "route id '1' repeats",
        ),
    ],
)
def test_a_bad_route_file_gets_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.xml"
    path.write_text(content)
    with pytest.raises(RouteFileError) as error:
        read_routes(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_a_missing_route_file_names_the_path_and_the_shipped_sets(tmp_path):
    with pytest.raises(RouteFileError, match="No such file"):
        read_routes(tmp_path / "none.xml")
    with pytest.raises(RouteFileError, match="grid01_heldout"):
        resolve_route_file("grid01_helout")
    assert resolve_route_file("grid01_heldout") == bundled_route_files()["grid01_heldout"]


def test_the_shipped_grid01_sets_are_ten_and_ten_turning_routes_of_200_to_600_m(grid01):
    files = bundled_route_files()
    assert {"grid01_train", "grid01_heldout"} <= set(files)
    train, heldout = (read_routes(files[name]) for name in ("grid01_train", "grid01_heldout"))
    assert len(train) == len(heldout) == 10
    assert {r.town for r in train + heldout} == {"Grid01"}
    assert len({r.route_id for r in train + heldout}) == 20  # ids unique across the two sets
    body = """
    out = {}
    for name in ("grid01_train", "grid01_heldout"):
        out[name] = []
        for spec in read_routes(FILES[name]):
            route = planner.plan(spec)
            out[name].append(dict(lane_fit(route), length=route.length,
                                  turns=[d.name for d in route.decisions()],
                                  start=route.positions[0][:2].tolist()))
    result(sets=out)
    """
    sets = run_routes(grid01, body, {"FILES": {k: str(v) for k, v in files.items()}})["sets"]
    for name, routes in sets.items():
        for route in routes:
            assert 200.0 <= route["length"] <= 600.0, (name, route)
            assert {"LEFT", "RIGHT"} & set(route["turns"]), (name, route)
            assert route["lane_gap"] < 0.25 and route["max_step"] <= 1.3, (name, route)
    # Held-out routes start elsewhere than every training route.
    for a in sets["grid01_heldout"]:
        for b in sets["grid01_train"]:
            assert sum((p - q) ** 2 for p, q in zip(a["start"], b["start"], strict=True)) > 30.0**2


def test_a_planned_route_survives_a_file_round_trip_in_both_forms(grid01, tmp_path):
    body = f"""
    from rllib_integration.routes import spec_of, write_routes
    route = planner.random_route(500.0, np.random.default_rng(4), route_id="r1")
    out = {{}}
    for form in ("1.0", "2.0"):
        path = {str(tmp_path)!r} + f"/route-{{form}}.xml"
        write_routes(path, [spec_of(route)], form=form)
        (spec,) = read_routes(path)
        again = planner.plan(spec)
        out[form] = dict(length=again.length, id=again.route_id, town=again.town,
                         turns=[d.name for d in again.decisions()],
                         gap=float(np.max(np.abs(again.positions[-1] - route.positions[-1]))))
    result(forms=out, length=route.length, turns=[d.name for d in route.decisions()])
    """
    r = run_routes(grid01, body)
    for form, again in r["forms"].items():
        assert again["length"] == pytest.approx(r["length"], abs=0.5), form
        assert again["turns"] == r["turns"], form
        assert (again["id"], again["town"]) == ("r1", "Grid01"), form
        assert again["gap"] < 0.05, form


def _routes_cli(*args: str) -> subprocess.CompletedProcess:
    return run_module("rllib_integration.routes", *args)


def test_the_cli_makes_disjoint_sets_from_one_seed_and_shows_them(tmp_path):
    xodr = tmp_path / "Grid01.xodr"
    export = run_module("rllib_integration.embedded.maps", "export", "Grid01", str(xodr))
    assert export.returncode == 0, export.stderr
    first, second = tmp_path / "a.xml", tmp_path / "b.xml"
    common = ["--count", "3", "--seed", "5", "--town", "Grid01"]
    made = _routes_cli("make", str(xodr), str(first), *common, "--form", "1.0")
    assert made.returncode == 0 and "3 routes" in made.stdout, made.stderr
    assert _routes_cli("make", str(xodr), str(second), *common, "--skip", "3").returncode == 0
    a, b = read_routes(first), read_routes(second)
    assert [r.route_id for r in a] == ["0", "1", "2"] and [r.route_id for r in b] == ["3", "4", "5"]
    shown = _routes_cli("show", str(first), str(xodr))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == 3 and all("Grid01" in line and " m\t" in line for line in lines)
    # Bad input: one line on stderr, exit 1.
    for args, message in [
        (("show", str(first), str(tmp_path / "none.xodr")), "cannot read map"),
        (("show", str(tmp_path / "none.xml"), str(xodr)), "no route file"),
        (("make", str(xodr), str(first), "--count", "0"), "--count must be at least 1"),
        (("show", str(first), "nowhere"), "neither an .xodr file nor HOST:PORT"),
    ]:
        failed = _routes_cli(*args)
        assert failed.returncode == 1 and message in failed.stderr, (args, failed.stderr)
        assert len(failed.stderr.strip().splitlines()) == 1


def test_the_shipped_route_files_are_in_the_wheel(tmp_path):
    # Build from a copy, so the build leaves nothing in the checkout.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("rllib_integration", "dqn_example", "aws"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in bundled_route_files().values():
        assert f"rllib_integration/routes/data/{Path(path).name}" in names
