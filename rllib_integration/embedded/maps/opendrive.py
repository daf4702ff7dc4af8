"""A small OpenDRIVE 1.4 writer: roads of lines and arcs, lanes with marks, junctions.

Coordinates are OpenDRIVE's (x east, y north, heading counter-clockwise in radians); libcarla
flips y when it loads the file. Only what the built-in towns need is modelled: ``line`` and ``arc``
geometries (never ``spiral``: libcarla evaluates constant-curvature spirals as NaN), constant lane
widths, one road type with a speed limit, cubic elevation pieces, junctions whose connecting
roads are derived from the arms' poses (``Junction.connect``), and signals (traffic lights and
signs) with their references and controllers, written the way RoadRunner exports CARLA's towns.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

_TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class Geometry:
    """One plan-view piece: a line (curvature 0) or an arc (signed curvature, left positive)."""

    length: float
    curvature: float = 0.0


@dataclass(frozen=True)
class Pose:
    x: float
    y: float
    heading: float  # radians, counter-clockwise from +x

    def advanced(self, geometry: Geometry) -> Pose:
        """Pose at the end of ``geometry`` started here."""
        k, length = geometry.curvature, geometry.length
        if abs(k) < 1e-12:
            return Pose(
                self.x + length * math.cos(self.heading),
                self.y + length * math.sin(self.heading),
                self.heading,
            )
        end = self.heading + k * length
        return Pose(
            self.x + (math.sin(end) - math.sin(self.heading)) / k,
            self.y - (math.cos(end) - math.cos(self.heading)) / k,
            end,
        )

    def reversed(self) -> Pose:
        return Pose(self.x, self.y, self.heading + math.pi)


@dataclass(frozen=True)
class RoadMark:
    """A lane border marking as OpenDRIVE spells it ('solid', 'broken', 'solid solid', 'curb')."""

    type: str
    color: str = "standard"  # libcarla reads 'standard' as White
    width: float = 0.15
    lane_change: str = "none"


@dataclass(frozen=True)
class Lane:
    """A lane of constant width; ``marks`` are (sOffset, mark) of its outer border."""

    type: str  # OpenDRIVE lane type: 'driving', 'sidewalk', 'shoulder', 'parking', ...
    width: float
    marks: tuple[tuple[float, RoadMark], ...] = ()


@dataclass(frozen=True)
class Link:
    element_type: str  # 'road' | 'junction'
    element_id: int
    contact_point: str | None = None  # 'start' | 'end' for roads


@dataclass(frozen=True)
class Crosswalk:
    """A zebra crossing at ``s`` over the carriageway (kerb to kerb: up to the first sidewalk on
    each side), ``length`` metres along the road; an ``<object type="crosswalk">`` as CARLA's
    towns declare them (``carla.Map.get_crosswalks()`` returns its outline)."""

    s: float
    length: float = 4.0


@dataclass(frozen=True)
class Signal:
    """A ``<signal>`` at (s, t) of its road. With the default validity 0..0 (what RoadRunner
    writes) it governs no lane itself: its ``SignalReference``s on other roads do."""

    id: str
    s: float
    t: float
    type: str  # '1000001' traffic light, '206' stop, '205' yield, '274' speed limit
    name: str
    orientation: str  # '-': lanes driven along +s, '+': along -s
    h_offset: float = 0.0  # radians added to the road heading (pi: facing the other way)
    z_offset: float = 0.0
    dynamic: bool = False
    subtype: str = "-1"
    value: float = -1.0
    height: float = 1.0
    width: float = 0.5
    validity: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class SignalReference:
    """Puts signal ``id`` into effect on lanes ``validity`` (from, to) of the road it is on."""

    id: str
    s: float
    t: float
    orientation: str
    validity: tuple[int, int]


@dataclass(frozen=True)
class Controller:
    """A top-level ``<controller>``: the signals that switch together (one phase)."""

    id: str
    sequence: int
    signal_ids: tuple[str, ...]


@dataclass
class Road:
    """A road whose reference line starts at ``start`` and follows ``geometries``.

    ``right`` are lanes -1, -2, ... (driven along +s); ``left`` lanes 1, 2, ... (driven along -s).
    """

    id: int
    start: Pose
    geometries: list[Geometry]
    right: list[Lane]
    left: list[Lane] = field(default_factory=list)
    center_marks: tuple[tuple[float, RoadMark], ...] = ()
    speed_kmh: float = 30.0
    road_type: str = "town"
    elevation: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    crosswalks: tuple[Crosswalk, ...] = ()
    junction: int = -1
    predecessor: Link | None = None
    successor: Link | None = None
    # Connecting roads only: their lane's predecessor/successor lane ids on the linked roads.
    lane_links: tuple[int, int] | None = None
    signals: list[Signal] = field(default_factory=list)
    signal_references: list[SignalReference] = field(default_factory=list)

    @property
    def length(self) -> float:
        return sum(g.length for g in self.geometries)

    @property
    def end(self) -> Pose:
        pose = self.start
        for geometry in self.geometries:
            pose = pose.advanced(geometry)
        return pose

    def arm_pose(self, contact: str) -> Pose:
        """Where the road meets a junction at ``contact``, heading *into* the junction."""
        return self.end if contact == "end" else self.start.reversed()


def path(start: Pose, end: Pose, radius: float = 1e9) -> list[Geometry]:
    """Line-arc-line from ``start`` to ``end`` (both headings honoured), arc radius <= ``radius``.

    The two tangent rays must meet ahead of ``start`` and behind ``end``; collinear poses give one
    line. Raises ValueError when no such path exists (e.g. a U-turn).
    """
    dx, dy = end.x - start.x, end.y - start.y
    delta = _wrap(end.heading - start.heading)
    if abs(delta) < 1e-9:
        along = dx * math.cos(start.heading) + dy * math.sin(start.heading)
        lateral = -dx * math.sin(start.heading) + dy * math.cos(start.heading)
        if abs(lateral) > 1e-6 or along <= 0:
            raise ValueError(f"no line from {start} to {end}")
        return [Geometry(along)]
    # Intersection X = start + d0 * u0 = end - d1 * u1 of the two tangent rays.
    u0 = (math.cos(start.heading), math.sin(start.heading))
    u1 = (math.cos(end.heading), math.sin(end.heading))
    det = u0[0] * u1[1] - u0[1] * u1[0]
    if abs(det) < 1e-9:
        raise ValueError(f"no line-arc-line path from {start} to {end} (U-turn)")
    d0 = (dx * u1[1] - dy * u1[0]) / det
    d1 = (dy * u0[0] - dx * u0[1]) / det
    if d0 < -1e-6 or d1 < -1e-6:
        raise ValueError(f"no line-arc-line path from {start} to {end}")
    tangent = min(d0, d1, radius * math.tan(abs(delta) / 2.0))
    arc_radius = tangent / math.tan(abs(delta) / 2.0)
    pieces = [
        Geometry(d0 - tangent),
        Geometry(arc_radius * abs(delta), math.copysign(1.0 / arc_radius, delta)),
        Geometry(d1 - tangent),
    ]
    return [g for g in pieces if g.length > 1e-6]


def _wrap(angle: float) -> float:
    return (angle + math.pi) % _TWO_PI - math.pi


def smooth_hill(length: float, height: float) -> list[tuple[float, float, float, float, float]]:
    """Elevation records (s, a, b, c, d) rising by ``height`` over the first half, back down over
    the second, with zero slope at both ends and at the top (so linked roads join smoothly)."""
    half = length / 2.0
    c, d = 3.0 * height / half**2, -2.0 * height / half**3
    return [(0.0, 0.0, 0.0, c, d), (half, height, 0.0, -c, -d)]


@dataclass(frozen=True)
class Connection:
    """A connecting road from the lane ``lane_in`` of arm (``incoming``, ``contact``).

    As in RoadRunner's exports, its one lane has the sign of the lane it continues: -1 (the road
    runs from the entry to the exit) after a road that ends at the junction, +1 (the road runs
    from the exit back to the entry) after one that starts there.
    """

    incoming: Road
    contact: str
    road: Road
    lane_in: int

    @property
    def lane(self) -> int:
        """The connecting road's own lane id."""
        return -1 if self.lane_in < 0 else 1


@dataclass
class Junction:
    """A junction: the arms are (road, contact) pairs whose ``contact`` end lies at the junction."""

    id: int
    arms: list[tuple[Road, str]]
    connections: list[Connection] = field(default_factory=list)
    controllers: list[Controller] = field(default_factory=list)  # its phases, in sequence order

    def connect(
        self,
        first_road_id: int,
        lane: Lane,
        allowed: set[tuple[int, int]] | None = None,
        radius: float = 1e9,
    ) -> list[Road]:
        """Create a one-lane connecting road for every ordered pair of arms (or those ``allowed``,
        as (incoming road id, outgoing road id)). Returns the new roads."""
        roads: list[Road] = []
        for road_in, contact_in in self.arms:
            for road_out, contact_out in self.arms:
                if road_in is road_out or (
                    allowed is not None and (road_in.id, road_out.id) not in allowed
                ):
                    continue
                # Lane entering the junction: -1 if the road ends here, +1 if it starts here.
                lane_in = -1 if contact_in == "end" else 1
                lane_out = 1 if contact_out == "end" else -1
                entry, exit_ = road_in.arm_pose(contact_in), road_out.arm_pose(contact_out)
                first = Link("road", road_in.id, contact_in)
                last = Link("road", road_out.id, contact_out)
                links = (lane_in, lane_out)
                if lane_in > 0:  # drawn from the exit back to the entry
                    entry, exit_, first, last = exit_, entry, last, first
                    links = (lane_out, lane_in)
                conn = Road(
                    id=first_road_id + len(roads),
                    start=entry,
                    geometries=path(entry, exit_.reversed(), radius),
                    right=[lane] if lane_in < 0 else [],
                    left=[lane] if lane_in > 0 else [],
                    speed_kmh=road_in.speed_kmh,
                    road_type=road_in.road_type,
                    junction=self.id,
                    predecessor=first,
                    successor=last,
                    lane_links=links,
                )
                conn.elevation = _flat(road_in, contact_in)
                self.connections.append(Connection(road_in, contact_in, conn, lane_in))
                roads.append(conn)
        for road, contact in self.arms:
            setattr(
                road, "successor" if contact == "end" else "predecessor", Link("junction", self.id)
            )
        return roads


def _flat(road: Road, contact: str) -> list[tuple[float, float, float, float, float]]:
    """A connecting road stays at the height of the arm it leaves (arms meet a junction level)."""
    if not road.elevation:
        return []
    s = road.length if contact == "end" else 0.0
    return [(0.0, _elevation_at(road.elevation, s), 0.0, 0.0, 0.0)]


def _elevation_at(records, s: float) -> float:
    s0, a, b, c, d = max((r for r in records if r[0] <= s + 1e-9), key=lambda r: r[0])
    ds = s - s0
    return a + b * ds + c * ds**2 + d * ds**3


def link_roads(first: Road, second: Road) -> None:
    """Chain ``first``'s end to ``second``'s start (same lane ids continue)."""
    first.successor = Link("road", second.id, "start")
    second.predecessor = Link("road", first.id, "end")


@dataclass
class OpenDrive:
    name: str
    roads: list[Road] = field(default_factory=list)
    junctions: list[Junction] = field(default_factory=list)
    controllers: list[Controller] = field(default_factory=list)  # besides the junctions' own
    geo_reference: str = (
        "+proj=tmerc +lat_0=49.0 +lon_0=8.0 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
    )

    def to_xml(self) -> str:
        """Serialise as OpenDRIVE 1.4 text."""
        root = ET.Element("OpenDRIVE")
        header = ET.SubElement(root, "header", _header_attrs(self))
        ET.SubElement(header, "geoReference").text = self.geo_reference
        roads = {road.id: road for road in self.roads}
        for road in self.roads:
            _road_xml(root, road, roads)
        junction_controllers = [c for j in self.junctions for c in j.controllers]
        for controller in self.controllers + junction_controllers:
            el = ET.SubElement(root, "controller", id=controller.id, name=f"ctrl{controller.id}")
            el.set("sequence", str(controller.sequence))
            for signal_id in controller.signal_ids:
                ET.SubElement(el, "control", signalId=signal_id, type="")
        for junction in self.junctions:
            _junction_xml(root, junction)
        ET.indent(root)
        return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _num(value: float) -> str:
    return repr(float(value))


def _header_attrs(odr: OpenDrive) -> dict[str, str]:
    xs, ys = [], []
    for road in odr.roads:
        pose = road.start
        for geometry in road.geometries:
            xs.append(pose.x)
            ys.append(pose.y)
            pose = pose.advanced(geometry)
    return {
        "revMajor": "1",
        "revMinor": "4",
        "name": odr.name,
        "version": "1",
        "north": _num(max(ys, default=0)),
        "south": _num(min(ys, default=0)),
        "east": _num(max(xs, default=0)),
        "west": _num(min(xs, default=0)),
        "vendor": "rllib_integration",
    }


def _road_xml(root: ET.Element, road: Road, roads: dict[int, Road]) -> None:
    el = ET.SubElement(
        root,
        "road",
        name=f"Road {road.id}",
        length=_num(road.length),
        id=str(road.id),
        junction=str(road.junction),
    )
    link = ET.SubElement(el, "link")
    for tag, target in (("predecessor", road.predecessor), ("successor", road.successor)):
        if target is not None:
            attrs = {"elementType": target.element_type, "elementId": str(target.element_id)}
            if target.contact_point:
                attrs["contactPoint"] = target.contact_point
            ET.SubElement(link, tag, attrs)
    road_type = ET.SubElement(el, "type", s="0", type=road.road_type)
    ET.SubElement(road_type, "speed", max=_num(road.speed_kmh), unit="km/h")
    plan = ET.SubElement(el, "planView")
    pose, s = road.start, 0.0
    for geometry in road.geometries:
        attrs = {"s": _num(s), "x": _num(pose.x), "y": _num(pose.y)}
        attrs |= {"hdg": _num(pose.heading), "length": _num(geometry.length)}
        geo = ET.SubElement(plan, "geometry", attrs)
        if abs(geometry.curvature) < 1e-12:
            ET.SubElement(geo, "line")
        else:
            ET.SubElement(geo, "arc", curvature=_num(geometry.curvature))
        pose, s = pose.advanced(geometry), s + geometry.length
    profile = ET.SubElement(el, "elevationProfile")
    for s0, a, b, c, d in road.elevation or [(0.0, 0.0, 0.0, 0.0, 0.0)]:
        ET.SubElement(profile, "elevation", s=_num(s0), a=_num(a), b=_num(b), c=_num(c), d=_num(d))
    ET.SubElement(el, "lateralProfile")
    lanes = ET.SubElement(el, "lanes")
    _crosswalks_xml(el, road)
    section = ET.SubElement(lanes, "laneSection", s="0")
    if road.left:
        side = ET.SubElement(section, "left")
        for k in range(len(road.left), 0, -1):
            _lane_xml(side, k, road.left[k - 1], road, roads)
    centre = ET.SubElement(ET.SubElement(section, "center"), "lane", id="0", type="none")
    centre.set("level", "false")
    _marks_xml(centre, road.center_marks)
    side = ET.SubElement(section, "right")
    for k in range(1, len(road.right) + 1):
        _lane_xml(side, -k, road.right[k - 1], road, roads)
    if road.signals or road.signal_references:
        _signals_xml(ET.SubElement(el, "signals"), road)


def _signals_xml(el: ET.Element, road: Road) -> None:
    for signal in road.signals:
        attrs = {
            "name": signal.name,
            "id": signal.id,
            "s": _num(signal.s),
            "t": _num(signal.t),
            "zOffset": _num(signal.z_offset),
            "hOffset": _num(signal.h_offset),
            "roll": "0.0",
            "pitch": "0.0",
            "orientation": signal.orientation,
            "dynamic": "yes" if signal.dynamic else "no",
            "country": "OpenDRIVE",
            "type": signal.type,
            "subtype": signal.subtype,
            "value": _num(signal.value),
            "text": "",
            "height": _num(signal.height),
            "width": _num(signal.width),
        }
        _validity_xml(ET.SubElement(el, "signal", attrs), signal.validity)
    for ref in road.signal_references:
        attrs = {"id": ref.id, "s": _num(ref.s), "t": _num(ref.t), "orientation": ref.orientation}
        _validity_xml(ET.SubElement(el, "signalReference", attrs), ref.validity)


def _validity_xml(el: ET.Element, validity: tuple[int, int]) -> None:
    ET.SubElement(el, "validity", fromLane=str(validity[0]), toLane=str(validity[1]))


def _crosswalks_xml(el: ET.Element, road: Road) -> None:
    if not road.crosswalks:
        return
    objects = ET.SubElement(el, "objects")
    right, left = _carriageway(road.right), _carriageway(road.left)
    for k, crosswalk in enumerate(road.crosswalks):
        attrs = {"id": str(road.id * 100 + k), "name": "Crosswalk", "type": "crosswalk"}
        attrs |= {"s": _num(crosswalk.s), "t": "0.0", "zOffset": "0.0", "hdg": "0.0"}
        attrs |= {"roll": "0.0", "pitch": "0.0", "orientation": "none"}
        attrs |= {"width": _num(left + right), "length": _num(crosswalk.length)}
        outline = ET.SubElement(ET.SubElement(objects, "object", attrs), "outline")
        half = crosswalk.length / 2.0  # u runs along the road, v to its left (t)
        for u, v in ((-half, -right), (half, -right), (half, left), (-half, left), (-half, -right)):
            ET.SubElement(outline, "cornerLocal", u=_num(u), v=_num(v), z="0.0")


def _carriageway(lanes: list[Lane]) -> float:
    """Width of the lanes from the centre line up to the first sidewalk."""
    width = 0.0
    for lane in lanes:
        if lane.type == "sidewalk":
            break
        width += lane.width
    return width


def _lane_xml(side: ET.Element, lane_id: int, lane: Lane, road: Road, roads: dict[int, Road]):
    el = ET.SubElement(side, "lane", id=str(lane_id), type=lane.type, level="false")
    link = ET.SubElement(el, "link")
    for tag, target in (("predecessor", road.predecessor), ("successor", road.successor)):
        linked = _linked_lane(road, lane_id, tag, target, roads)
        if linked is not None:
            ET.SubElement(link, tag, id=str(linked))
    ET.SubElement(el, "width", sOffset="0", a=_num(lane.width), b="0", c="0", d="0")
    _marks_xml(el, lane.marks)


def _linked_lane(road: Road, lane_id: int, tag: str, target: Link | None, roads) -> int | None:
    if road.lane_links is not None:  # connecting road inside a junction
        return road.lane_links[0 if tag == "predecessor" else 1]
    if target is None or target.element_type != "road":
        return None
    other = roads[target.element_id]
    # Joining start-to-end keeps the lane id; start-to-start or end-to-end flips the side.
    same_direction = (tag == "successor") == (target.contact_point == "start")
    linked = lane_id if same_direction else -lane_id
    lanes = other.right if linked < 0 else other.left
    return linked if abs(linked) <= len(lanes) else None


def _marks_xml(el: ET.Element, marks: tuple[tuple[float, RoadMark], ...]) -> None:
    for s_offset, mark in marks or ((0.0, RoadMark("none")),):
        ET.SubElement(
            el,
            "roadMark",
            sOffset=_num(s_offset),
            type=mark.type,
            weight="standard",
            color=mark.color,
            width=_num(mark.width if mark.type != "none" else 0.0),
            laneChange=mark.lane_change,
        )


def _junction_xml(root: ET.Element, junction: Junction) -> None:
    el = ET.SubElement(root, "junction", id=str(junction.id), name=f"Junction {junction.id}")
    for k, c in enumerate(junction.connections):
        attrs = {"id": str(k), "incomingRoad": str(c.incoming.id), "connectingRoad": str(c.road.id)}
        contact = "start" if c.lane < 0 else "end"
        connection = ET.SubElement(el, "connection", attrs, contactPoint=contact)
        ET.SubElement(connection, "laneLink", {"from": str(c.lane_in), "to": str(c.lane)})
    for controller in junction.controllers:
        attrs = {"id": controller.id, "type": "0", "sequence": str(controller.sequence)}
        ET.SubElement(el, "controller", attrs)
