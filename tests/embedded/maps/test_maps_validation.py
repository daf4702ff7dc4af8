"""Bad OpenDRIVE is rejected with one clear error, in a subprocess, and the caller survives."""

from __future__ import annotations

import re

import pytest

from rllib_integration.embedded.maps import (
    MapError,
    builtin_xodr,
    sanitize_xodr,
    validate_xodr,
    validation,
)


@pytest.fixture(autouse=True)
def fresh_cache():
    validation.clear_cache()
    yield
    validation.clear_cache()


def rejected(name: str, xodr: str, **kwargs) -> str:
    with pytest.raises(MapError) as info:
        validate_xodr(name, xodr, **kwargs)
    message = str(info.value)
    assert message.startswith(f"map {name!r}: "), message
    assert "\n" not in message
    return message


def spiral_loop() -> str:
    """Loop01 with its arcs written as constant-curvature spirals (libcarla's NaN trap)."""
    xodr = builtin_xodr("Loop01")
    spiral = re.sub(
        r'<arc curvature="([^"]+)"\s*/>', r'<spiral curvStart="\1" curvEnd="\1"/>', xodr
    )
    assert spiral != xodr
    return spiral


@pytest.mark.parametrize(
    ("xodr", "reason"),
    [
        ("", "empty"),
        ("\x00\x01 garbage \xff", "not well-formed XML"),
        (builtin_xodr("Grid01")[:5000], "not well-formed XML"),
        ("<OpenDRIVE><header/></OpenDRIVE>", "no <road>"),
        ("<html><body/></html>", "not <OpenDRIVE>"),
        ('<!DOCTYPE x [<!ENTITY a "aaaaaaaa">]><OpenDRIVE>&a;</OpenDRIVE>', "DOCTYPE/ENTITY"),
        (builtin_xodr("Loop01").replace('length="', 'length="1e9', 1), "bad length"),
        (builtin_xodr("Loop01").replace('length="', 'length="99999', 1), "outside"),
        (builtin_xodr("Loop01").replace('a="3.5"', 'a="3500"'), "lanes up to 3500 m wide"),
        (builtin_xodr("Loop01").replace('x="0.0"', 'x="90000.0"', 1), "span"),
    ],
    ids=[
        "empty",
        "garbage",
        "truncated",
        "no-roads",
        "not-opendrive",
        "xml-bomb",
        "nan-length",
        "huge-road",
        "huge-lanes",
        "far-apart",
    ],
)
def test_malformed_maps_are_rejected_with_a_reason(xodr, reason):
    assert reason in rejected("bad", xodr)


def test_libcarla_segfault_is_contained_in_the_subprocess():
    # A lane linked to a lane that does not exist makes libcarla's carla.Map() segfault.
    hostile = builtin_xodr("Loop01").replace('<successor id="-1"', '<successor id="-9"')
    assert "libcarla crashed (SIGSEGV)" in rejected("hostile", hostile)
    # The process is alive and libcarla still works in it.
    assert validate_xodr("Loop01", builtin_xodr("Loop01")).dead_ends == 0


def test_oversized_text_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(validation, "MAX_XODR_BYTES", 10_000)
    monkeypatch.setattr(validation.subprocess, "run", pytest.fail)  # no subprocess for this
    assert "limit" in rejected("huge", builtin_xodr("Loop01"))


def test_a_map_that_takes_too_long_is_abandoned():
    message = rejected("slow", builtin_xodr("Highway01"), timeout=0.01)
    assert "did not finish" in message


def test_spiral_nan_trap_is_caught_and_sanitised():
    spiral = spiral_loop()
    assert "non-finite" in rejected("spiral", spiral)
    fixed = sanitize_xodr(spiral)
    assert "<spiral" not in fixed and "<arc" in fixed
    assert validate_xodr("spiral-fixed", fixed).dead_ends == 0
    # Real clothoids (varying curvature) are left alone.
    clothoid = '<spiral curvStart="0.0" curvEnd="0.02"/>'
    assert sanitize_xodr(clothoid) == clothoid


def test_verdicts_are_cached_by_content(monkeypatch):
    good, bad = builtin_xodr("Roundabout01"), "<OpenDRIVE/>"
    first = validate_xodr("Roundabout01", good)
    rejected("bad", bad)
    monkeypatch.setattr(validation.subprocess, "run", pytest.fail)  # must not validate again
    assert validate_xodr("Roundabout01", good) == first
    assert validate_xodr("renamed", good).name == "renamed"
    assert "no <road>" in rejected("bad-again", bad)
