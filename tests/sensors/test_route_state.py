"""`sensor.route_state` settings and space (its readings on a route: tests/routes)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rllib_integration.sensors.route_state import FIELDS, RouteStateSensor


def test_the_space_bounds_the_decisions_and_distances_by_the_horizon():
    space = RouteStateSensor.observation_space({"horizon": 40.0})
    assert space.shape == (len(FIELDS),) and space.dtype == np.float32
    decisions = [FIELDS.index(k) for k in ("left", "right", "straight")]
    assert (space.low[decisions] == 0).all() and (space.high[decisions] == 1).all()
    assert space.high[FIELDS.index("decision_distance")] == 40.0
    assert space.high[FIELDS.index("remaining")] == 40.0
    assert space.high[FIELDS.index("heading_error")] == pytest.approx(math.pi)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"lookahed": 8.0}, "sensor.route_state has no attribute 'lookahed'"),
        ({"horizon": 0}, "horizon must be a number > 0, got 0"),
        ({"lookahead": True}, "lookahead must be a number > 0, got True"),
        ({"horizon": math.inf}, "horizon must be finite, got inf"),
    ],
)
def test_a_bad_attribute_is_one_clear_error(attributes, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        RouteStateSensor.check_attributes({"type": "sensor.route_state", **attributes})
