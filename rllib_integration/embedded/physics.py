"""Vehicle and walker motion, and collisions between oriented boxes.

Vehicles follow a kinematic bicycle model referenced at the box centre: the controls set a
longitudinal acceleration and a front-wheel angle; there is no tyre slip. Elevation and pitch
come from the map's ground model, so vehicles follow slopes. Collisions are separating-axis
tests on the boxes' footprints (2-D, yaw only), with a numpy broad phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

GRAVITY = 9.81
BRAKE_DECEL = 9.0  # m/s^2 at full brake
HAND_BRAKE_DECEL = 6.0
ROLLING_DECEL = 0.25  # coasting
DRAG = 0.0012  # 1/m: aerodynamic deceleration per (m/s)^2
REVERSE_TOP_SPEED = 8.0  # m/s
STEER_RATE = math.radians(360.0)  # front wheels turn at most this fast (rad/s)


@dataclass
class VehicleControl:
    """carla.VehicleControl's fields, in its order (protocol/codec.py derives the wire from them)."""

    throttle: float = 0.0  # 0..1
    steer: float = 0.0  # -1..1
    brake: float = 0.0  # 0..1
    hand_brake: bool = False
    reverse: bool = False
    manual_gear_shift: bool = False
    gear: int = 0


@dataclass
class Body:
    """Kinematic state of a physical actor. Pose is the actor origin (bottom centre)."""

    x: float
    y: float
    z: float
    pitch: float = 0.0
    yaw: float = 0.0  # degrees, UE convention: +yaw turns +x towards +y
    roll: float = 0.0
    extent: tuple[float, float, float] = (1.0, 1.0, 1.0)
    box_center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    speed: float = 0.0  # signed, along the heading (vehicles) or the walk direction (walkers)
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
    acceleration: tuple[float, float, float] = (0.0, 0.0, 0.0)
    angular_velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)  # deg/s
    simulate_physics: bool = True
    enable_gravity: bool = True
    collisions: bool = True
    mass: float = 1500.0
    constant_velocity: tuple[float, float, float] | None = None
    target_velocity: tuple[float, float, float] | None = None  # one-shot set_target_velocity
    ground_key: tuple[float, float, float] | None = None  # (x, y, yaw) of the last ground query
    ground_offset: float = 0.0  # origin height above the ground (walkers: their centre, as CARLA)
    last_pose: tuple[float, float, float, float] | None = None  # x, y, z, yaw at the last tick


@dataclass
class VehicleParams:
    wheelbase: float = 2.9
    max_steer_deg: float = 70.0
    top_speed: float = 50.0
    max_accel: float = 3.5


@dataclass
class Vehicle:
    body: Body
    params: VehicleParams
    control: VehicleControl = field(default_factory=VehicleControl)
    steer_angle: float = 0.0  # radians, actual front-wheel angle


@dataclass
class Walker:
    body: Body
    direction: tuple[float, float, float] = (1.0, 0.0, 0.0)
    walk_speed: float = 0.0
    max_speed: float = 1.4


def _speed_factor(speed: float) -> float:
    """CARLA's default steering curve: less steer authority at speed."""
    kmh = abs(speed) * 3.6
    if kmh <= 20.0:
        return 1.0 - 0.1 * kmh / 20.0
    if kmh <= 60.0:
        return 0.9 - 0.1 * (kmh - 20.0) / 40.0
    return max(0.7, 0.8 - 0.1 * (kmh - 60.0) / 60.0)


def longitudinal_accel(v: Vehicle) -> float:
    """Acceleration along the heading from throttle, brake, hand brake and resistance."""
    c, p, speed = v.control, v.params, v.body.speed
    accel = 0.0
    if c.throttle > 0.0:
        if c.reverse:
            headroom = max(0.0, 1.0 - max(-speed, 0.0) / REVERSE_TOP_SPEED)
            accel -= p.max_accel * c.throttle * headroom
        else:
            headroom = max(0.0, 1.0 - max(speed, 0.0) / p.top_speed)
            accel += p.max_accel * c.throttle * headroom
    stopping = BRAKE_DECEL * c.brake + (HAND_BRAKE_DECEL if c.hand_brake else 0.0)
    if speed == 0.0:  # at rest the brakes hold unless the engine overcomes them
        net = abs(accel) - stopping
        return math.copysign(net, accel) if net > 0.0 else 0.0
    stopping += ROLLING_DECEL + DRAG * speed * speed
    return accel - math.copysign(stopping, speed)


def step_vehicle(v: Vehicle, dt: float) -> None:
    """Advance one vehicle in the plane (x, y, yaw, speed); elevation is set afterwards."""
    b = v.body
    if not b.simulate_physics:
        kinematic_motion(b, dt)  # moved by set_transform (e.g. the TM's hybrid mode)
        return
    old_vx, old_vy, old_vz = b.velocity
    given = b.constant_velocity or b.target_velocity  # a constant velocity wins
    if given is not None:
        vx, vy, _ = given
        b.target_velocity = None
        yaw = math.radians(b.yaw)
        b.speed = vx * math.cos(yaw) + vy * math.sin(yaw)
    accel = longitudinal_accel(v)
    new_speed = b.speed + accel * dt
    if b.speed != 0.0 and (new_speed > 0.0) != (b.speed > 0.0) and abs(accel) > 0:
        # Braking and resistance stop the car; they never push it backwards.
        throttle_dir = (-1.0 if v.control.reverse else 1.0) if v.control.throttle > 0 else 0.0
        if throttle_dir == 0.0 or (throttle_dir > 0) != (new_speed > 0):
            new_speed = 0.0
    p = v.params
    target = v.control.steer * math.radians(p.max_steer_deg)
    target *= _speed_factor(new_speed)
    max_delta = STEER_RATE * dt
    v.steer_angle += min(max(target - v.steer_angle, -max_delta), max_delta)
    speed = 0.5 * (b.speed + new_speed)
    beta = math.atan(0.5 * math.tan(v.steer_angle))
    yaw = math.radians(b.yaw)
    yaw_rate = speed / (0.5 * p.wheelbase) * math.sin(beta)
    heading = yaw + beta
    b.x += speed * math.cos(heading) * dt
    b.y += speed * math.sin(heading) * dt
    new_yaw = yaw + yaw_rate * dt
    b.yaw = (math.degrees(new_yaw) + 180.0) % 360.0 - 180.0
    b.speed = new_speed
    cos_y, sin_y = math.cos(new_yaw + beta), math.sin(new_yaw + beta)
    vx, vy = new_speed * cos_y, new_speed * sin_y
    b.velocity = (vx, vy, old_vz)
    b.acceleration = ((vx - old_vx) / dt, (vy - old_vy) / dt, 0.0)
    b.angular_velocity = (0.0, 0.0, math.degrees(yaw_rate))


def kinematic_motion(b: Body, dt: float) -> None:
    """Velocity, acceleration and yaw rate of a body moved only by teleports, from its poses."""
    last = b.last_pose
    b.last_pose = (b.x, b.y, b.z, b.yaw)
    if last is None or dt <= 0.0:
        return
    old_v = b.velocity
    v = ((b.x - last[0]) / dt, (b.y - last[1]) / dt, (b.z - last[2]) / dt)
    yaw_rate = ((b.yaw - last[3] + 180.0) % 360.0 - 180.0) / dt
    b.velocity = v
    b.acceleration = ((v[0] - old_v[0]) / dt, (v[1] - old_v[1]) / dt, (v[2] - old_v[2]) / dt)
    b.angular_velocity = (0.0, 0.0, yaw_rate)
    yaw = math.radians(b.yaw)
    b.speed = v[0] * math.cos(yaw) + v[1] * math.sin(yaw)


def step_walker(w: Walker, dt: float) -> None:
    """Move a walker along its direction (one without physics stands still)."""
    b = w.body
    if not b.simulate_physics:
        b.speed = 0.0
        b.velocity = b.acceleration = (0.0, 0.0, 0.0)
        return
    speed = min(max(w.walk_speed, 0.0), max(w.max_speed, 0.0) or 10.0)
    dx, dy, _ = w.direction
    norm = math.hypot(dx, dy)
    if norm > 1e-6 and speed > 0.0:
        vx, vy = dx / norm * speed, dy / norm * speed
        b.yaw = math.degrees(math.atan2(vy, vx))
    else:
        vx = vy = 0.0
    old = b.velocity
    b.x += vx * dt
    b.y += vy * dt
    b.speed = speed if norm > 1e-6 else 0.0
    b.velocity = (vx, vy, 0.0)
    b.acceleration = ((vx - old[0]) / dt, (vy - old[1]) / dt, 0.0)


def follow_ground(
    bodies: list[Body], lengths: list[float], ground, dt: float, flat_height: float | None = None
) -> None:
    """Set z (and pitch for vehicles) from the ground under each body.

    On a flat map (`flat_height` given) this is pure arithmetic; otherwise one vectorised
    ground query covers every body that moved since its last query.
    """
    if not bodies or ground is None:
        return
    if flat_height is not None:
        for b in bodies:
            target = flat_height + b.ground_offset
            if b.simulate_physics and b.enable_gravity and b.z != target:
                b.velocity = (b.velocity[0], b.velocity[1], (target - b.z) / dt)
                b.z, b.pitch = target, 0.0
            elif b.velocity[2] != 0.0:
                b.velocity = (b.velocity[0], b.velocity[1], 0.0)
        return
    moved = [
        (b, half)
        for b, half in zip(bodies, lengths, strict=True)
        if b.simulate_physics and b.enable_gravity and b.ground_key != (b.x, b.y, b.yaw)
    ]
    for b in bodies:
        if (b.x, b.y, b.yaw) == b.ground_key and b.velocity[2] != 0.0:
            b.velocity = (b.velocity[0], b.velocity[1], 0.0)
    if not moved:
        return
    n = len(moved)
    xs = np.empty(3 * n)
    ys = np.empty(3 * n)
    for i, (b, half) in enumerate(moved):
        c, s = math.cos(math.radians(b.yaw)), math.sin(math.radians(b.yaw))
        xs[3 * i : 3 * i + 3] = (b.x, b.x + c * half, b.x - c * half)
        ys[3 * i : 3 * i + 3] = (b.y, b.y + s * half, b.y - s * half)
    zs = np.repeat([b.z - b.ground_offset for b, _ in moved], 3)
    heights = np.asarray(ground.height(xs, ys, zs), dtype=np.float64).reshape(n, 3)
    for (b, half), (h, front, rear) in zip(moved, heights.tolist(), strict=True):
        if half > 0.0:
            b.pitch = math.degrees(math.atan2(front - rear, 2.0 * half))
        h += b.ground_offset
        vz = (h - b.z) / dt if dt > 0 else 0.0
        b.z = h
        b.velocity = (b.velocity[0], b.velocity[1], vz)
        b.ground_key = (b.x, b.y, b.yaw)


def flat_height(ground, bounds: tuple[float, float, float, float], step: float) -> float | None:
    """The single ground height of a flat map (sampled at the ground raster's resolution), or
    None if the map has any slope. Checked once per map so flat maps skip per-tick queries."""
    xmin, ymin, xmax, ymax = bounds
    xs = np.arange(xmin, xmax + step, step)
    first = None
    for chunk in np.array_split(xs, max(1, len(xs) // 200)):
        gx, gy = np.meshgrid(chunk, np.arange(ymin, ymax + step, step))
        h = np.asarray(ground.height(gx.ravel(), gy.ravel()), dtype=np.float64)
        lo, hi = float(h.min()), float(h.max())
        first = lo if first is None else first
        if hi - lo > 1e-3 or abs(lo - first) > 1e-3:
            return None
    return first


# ---------------------------------------------------------------- collisions


@dataclass(frozen=True)
class Contact:
    a: int  # index into the bodies list
    b: int
    normal: tuple[float, float]  # unit, pointing from b towards a
    depth: float


def _footprints(bodies: list[Body]) -> list[tuple[float, float, float, float, float, float]]:
    """Per body: centre x, y, half length, half width, cos(yaw), sin(yaw)."""
    out = []
    for b in bodies:
        c, s = math.cos(math.radians(b.yaw)), math.sin(math.radians(b.yaw))
        ox, oy = b.box_center[0], b.box_center[1]
        out.append((b.x + c * ox - s * oy, b.y + s * ox + c * oy, b.extent[0], b.extent[1], c, s))
    return out


def _sat(i: tuple[float, ...], j: tuple[float, ...]) -> tuple[float, tuple[float, float]] | None:
    """Separating-axis test of two oriented rectangles: (depth, unit axis from j to i) or None."""
    dx, dy = i[0] - j[0], i[1] - j[1]
    best_depth, best_axis = math.inf, (0.0, 0.0)
    # The four candidate axes: each box's forward and left directions.
    for ax, ay in ((i[4], i[5]), (-i[5], i[4]), (j[4], j[5]), (-j[5], j[4])):
        ri = i[2] * abs(ax * i[4] + ay * i[5]) + i[3] * abs(-ax * i[5] + ay * i[4])
        rj = j[2] * abs(ax * j[4] + ay * j[5]) + j[3] * abs(-ax * j[5] + ay * j[4])
        dist = ax * dx + ay * dy
        depth = ri + rj - abs(dist)
        if depth <= 0.0:
            return None
        if depth < best_depth:
            best_depth, best_axis = depth, (ax, ay) if dist >= 0 else (-ax, -ay)
    return best_depth, best_axis


def find_contacts(bodies: list[Body]) -> list[Contact]:
    """All overlapping pairs among bodies whose collisions are enabled."""
    live = [i for i, b in enumerate(bodies) if b.collisions]
    if len(live) < 2:
        return []
    boxes = _footprints([bodies[i] for i in live])
    arr = np.array(boxes)
    centers = arr[:, :2]
    radii = np.hypot(arr[:, 2], arr[:, 3])
    diff = centers[:, None, :] - centers[None, :, :]
    dist2 = np.einsum("ijk,ijk->ij", diff, diff)
    reach = radii[:, None] + radii[None, :]
    candidates = np.argwhere(np.triu(dist2 < reach * reach, k=1))
    contacts = []
    for i, j in candidates.tolist():
        hit = _sat(boxes[i], boxes[j])
        if hit is not None:
            depth, axis = hit
            contacts.append(Contact(live[i], live[j], axis, depth))
    return contacts


def boxes_overlap(a: Body, b: Body) -> bool:
    box_a, box_b = _footprints([a, b])
    return _sat(box_a, box_b) is not None
