"""Signal actors, trigger boxes and groups built from OpenDRIVE, checked against CARLA 0.9.16's
rules (reference/carla_traffic_signals.md) with libcarla's own map."""

from __future__ import annotations

import collections
import math
from pathlib import Path

import pytest

from rllib_integration.embedded.maps import builtin_xodr
from rllib_integration.embedded.signals import SignKind
from rllib_integration.embedded.signals.layout import build_layout

carla = pytest.importorskip("carla")

CARLA_2020 = Path(__file__).resolve().parents[3].parent / "shared" / "maps" / "carla-2020"

# The reference's worked example (§2.1, §2.4): a light beside road 1 (elevation 1 m), referenced
# on junction road 100 at s=0.5, lane -1; road 1 feeds road 100.
_LANE = '<lane id="-1" type="driving" level="false"><link>{link}</link><width sOffset="0" a="3.5" b="0" c="0" d="0"/></lane>'
_ROAD = """<road name="r{id}" length="{length}" id="{id}" junction="{junction}"><link>{links}</link>
<planView><geometry s="0" x="{x}" y="0" hdg="0" length="{length}"><line/></geometry></planView>
<elevationProfile><elevation s="0" a="1" b="0" c="0" d="0"/></elevationProfile>
<lanes><laneSection s="0"><center><lane id="0" type="none" level="false"/></center>
<right>{lane}</right></laneSection></lanes><signals>{signals}</signals></road>"""
EXAMPLE = (
    '<?xml version="1.0"?><OpenDRIVE><header revMajor="1" revMinor="4" name="ex"/>'
    + _ROAD.format(
        id=1, length=100, junction=-1, x=0, lane=_LANE.format(link=""),
        links='<successor elementType="junction" elementId="10"/>',
        signals='<signal id="L1" s="95" t="-5" zOffset="3" hOffset="0.5" orientation="-" '
        'dynamic="yes" country="OpenDRIVE" type="1000001" subtype="-1" name="x">'
        '<validity fromLane="0" toLane="0"/></signal>',
    )
    + _ROAD.format(
        id=100, length=20, junction=10, x=100,
        lane=_LANE.format(link='<predecessor id="-1"/><successor id="-1"/>'),
        links='<predecessor elementType="road" elementId="1" contactPoint="end"/>'
        '<successor elementType="road" elementId="2" contactPoint="start"/>',
        signals='<signalReference id="L1" s="0.5" t="0" orientation="-">'
        '<validity fromLane="-1" toLane="-1"/></signalReference>',
    )
    + _ROAD.format(
        id=2, length=100, junction=-1, x=120, lane=_LANE.format(link=""),
        links='<predecessor elementType="junction" elementId="10"/>', signals="",
    )
    + '<controller id="50" name="c50" sequence="0"><control signalId="L1" type=""/></controller>'
    '<junction id="10" name="j"><connection id="0" incomingRoad="1" connectingRoad="100" '
    'contactPoint="start"><laneLink from="-1" to="-1"/></connection>'
    '<controller id="50" type="0" sequence="0"/></junction></OpenDRIVE>'
)  # fmt: skip


def test_worked_example_pose_box_and_trigger_volume():
    layout = build_layout("ex", EXAMPLE)
    (light,) = layout.signs
    assert light.type_id == "traffic.traffic_light" and light.semantic_tag == 7
    x, y, z, pitch, yaw, roll = light.pose
    assert (x, y, z) == pytest.approx((95.219, 4.880, 4.0), abs=1e-3)
    assert (pitch, yaw, roll) == pytest.approx((0.0, 61.352, 0.0), abs=1e-3)
    (box,) = light.effect_boxes  # moved out of the junction: road 1, lane -1, s = 97
    assert box.center == pytest.approx((97.0, 1.75, 1.0), abs=1e-3)
    assert box.extent == pytest.approx((1.5, 0.875, 1.0))
    location, extent, rotation = light.trigger_volume
    assert location == pytest.approx((-1.893, -3.063, -3.0), abs=1e-3)
    assert extent == pytest.approx((1.5, 0.875, 1.0), abs=1e-6)
    assert rotation == pytest.approx((0.0, -61.352, 0.0), abs=1e-3)
    (group,) = layout.groups
    assert group.junction_id == 10 and [c.lights for c in group.controllers] == [[0]]
    assert group.controllers[0].times == (10.0, 3.0, 2.0)


def test_a_light_no_junction_claims_cycles_alone_with_a_long_red():
    lone = EXAMPLE.replace('<controller id="50" type="0" sequence="0"/>', "")
    (group,) = build_layout("ex", lone).groups
    assert group.junction_id < 0 and group.controllers[0].times == (10.0, 3.0, 10.0)


def test_a_light_on_a_junction_road_in_no_controller_is_a_landmark_only():
    signal_start = EXAMPLE.index("<signal ")
    signal = EXAMPLE[signal_start : EXAMPLE.index("</signal>") + len("</signal>")]
    moved = (
        EXAMPLE.replace(signal, "")
        .replace('<control signalId="L1" type=""/>', "")
        .replace("<signalReference", signal.replace('s="95"', 's="10"') + "<signalReference")
    )
    assert [lm.id for lm in carla.Map("ex", moved).get_all_landmarks()] == ["L1"]
    assert build_layout("ex", moved).signs == []
    free = EXAMPLE.replace('<control signalId="L1" type=""/>', "")  # not on a junction road
    assert [s.opendrive_id for s in build_layout("ex", free).signs] == ["L1"]


def test_grid01_every_junction_arm_has_a_light_whose_box_sits_before_the_junction():
    carla_map = carla.Map("Grid01", builtin_xodr("Grid01"))
    layout = build_layout("Grid01", builtin_xodr("Grid01"))
    assert len(layout.signs) == 40 and all(s.kind is SignKind.TRAFFIC_LIGHT for s in layout.signs)
    assert len(layout.groups) == 12 and {len(g.controllers) for g in layout.groups} == {2}
    for sign in layout.signs:
        tf = carla.Transform(carla.Location(*sign.pose[:3]), carla.Rotation(*sign.pose[3:]))
        centre = tf.transform(carla.Location(*sign.trigger_volume[0]))
        wp = carla_map.get_waypoint(centre)
        assert not wp.is_junction and wp.lane_type == carla.LaneType.Driving
        # 1.5-4.5 m of lane before the junction: 3 m on, the lane has entered it
        ahead = wp.next(3.1)
        assert ahead and all(w.is_junction for w in ahead), sign.opendrive_id
        assert not any(w.is_junction for w in wp.next(1.4))
        # the pole stands on the right of the lane it governs, facing it
        to_pole = tf.location - wp.transform.location
        right = wp.transform.get_right_vector()
        assert 4.0 < to_pole.x * right.x + to_pole.y * right.y < 8.0
        assert math.cos(math.radians(sign.pose[4] - 90.0 - wp.transform.rotation.yaw)) > 0.99


def test_roundabout01_yields_at_the_ring_and_stops_at_the_outer_ring():
    layout = build_layout("Roundabout01", builtin_xodr("Roundabout01"))
    kinds = collections.Counter(s.type_id for s in layout.signs)
    assert kinds == {"traffic.yield": 4, "traffic.stop": 4} and layout.groups == []
    assert all(s.effect_boxes and s.check_boxes for s in layout.signs)


def _town(name: str) -> str:
    path = CARLA_2020 / f"{name}.xodr"
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path.read_text()


def test_carla_town01_has_36_lights_in_12_three_phase_groups():
    layout = build_layout("Town01", _town("Town01"))
    kinds = collections.Counter(s.kind for s in layout.signs)
    assert kinds[SignKind.TRAFFIC_LIGHT] == 36 and kinds[SignKind.SPEED_LIMIT] == 22
    assert len(layout.groups) == 12 and {len(g.controllers) for g in layout.groups} == {3}
    assert all(s.effect_boxes for s in layout.signs)


def test_carla_town07_has_stop_and_yield_signs_with_check_boxes():
    layout = build_layout("Town07", _town("Town07"))
    stops = [s for s in layout.signs if s.type_id == "traffic.stop"]
    yields = [s for s in layout.signs if s.type_id == "traffic.yield"]
    assert len(stops) >= 10 and len(yields) >= 10
    assert sum(bool(s.check_boxes) for s in stops + yields) >= 10
