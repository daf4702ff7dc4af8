"""Vehicle boxes against trigger boxes: rectangles in plan and a height range."""

from __future__ import annotations

from rllib_integration.embedded.signals.layout import Box
from rllib_integration.embedded.signals.overlap import BoxSet, vehicle_shape

CAR = vehicle_shape((0.0, 0.0, 0.0), (2.4, 1.0, 0.75))


def touching(boxes: BoxSet, *cars: tuple[float, float, float, float]) -> list[tuple[int, int]]:
    """(car index, box index) of every overlapping pair; cars at (x, y, z, yaw)."""
    return sorted((row, k) for row, car in enumerate(cars) for k in boxes.touched(car, CAR))


def test_rotated_rectangles_touch_only_when_no_axis_separates_them():
    boxes = BoxSet([Box((0.0, 0.0, 1.0), (0.0, 45.0, 0.0), (1.5, 0.5, 1.0))], [7])
    assert boxes.owners == [7]
    assert touching(boxes, (0.0, 0.0, 0.75, 0.0)) == [(0, 0)]
    # beside the thin diagonal box: within both bounding circles, but separated
    assert touching(boxes, (1.6, -1.6, 0.75, 45.0)) == []
    assert touching(boxes, (2.2, -2.2, 0.75, 0.0)) == []
    assert touching(boxes, (1.6, -1.6, 0.75, 0.0)) == [(0, 0)]  # a corner pokes in
    # along the diagonal, nose to nose
    assert touching(boxes, (2.7, 2.7, 0.75, 45.0)) == [(0, 0)]  # 3.82 m apart < 2.4 + 1.5
    assert touching(boxes, (2.8, 2.8, 0.75, 45.0)) == []  # 3.96 m
    # a bridge above it
    assert touching(boxes, (0.0, 0.0, 5.0, 0.0)) == []


def test_duplicate_boxes_of_one_sign_count_once_and_rows_are_reported():
    box = Box((10.0, 0.0, 0.0), (0.0, 0.0, 0.0), (1.5, 0.9, 1.0))
    other = Box((-10.0, 0.0, 0.0), (0.0, 0.0, 0.0), (1.5, 0.9, 1.0))
    boxes = BoxSet([box, box, other], [0, 0, 1])
    assert len(boxes) == 2
    pairs = touching(boxes, (0.0, 0.0, 0.5, 0.0), (-9.0, 0.5, 0.5, 90.0), (11.0, 0.0, 0.5, 0.0))
    assert sorted(pairs) == [(1, 1), (2, 0)]


def test_the_box_centre_offset_and_a_vehicle_too_big_for_the_grid():
    boxes = BoxSet([Box((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (1.5, 0.9, 1.0))], [0])
    # the origin 4 m behind the box, the bounding box centred 1.5 m ahead of the origin
    ahead = vehicle_shape((1.5, 0.0, 0.7), (2.4, 1.0, 0.75))
    assert boxes.touched((-4.0, 0.0, 0.0, 0.0), ahead) == {0}
    assert boxes.touched((-4.0, 0.0, 0.0, 180.0), ahead) == set()
    lorry = vehicle_shape((0.0, 0.0, 1.5), (9.0, 1.3, 1.5))  # reaches past the grid's margin
    assert boxes.touched((10.0, 0.0, 0.0, 0.0), lorry) == {0}
    assert boxes.touched((10.7, 0.0, 0.0, 0.0), lorry) == set()
