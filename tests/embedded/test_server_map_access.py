"""What a client may load: maps by name (built-ins, --map-dir, $CARLA_ROOT and the server's own
--map file), never a file by a path it chooses, and no reply says whether such a file exists."""

import pytest

from rllib_integration.embedded.maps import builtin_xodr
from tests.conftest import start_embedded_server
from tests.embedded.helpers import run_on_server

LOAD_ALL = """
messages = {}
for name in NAMES:
    try:
        client.load_world(name)
        messages[name] = None
    except RuntimeError as exc:
        messages[name] = str(exc)
result(messages=messages, map=client.get_world().get_map().name,
       xodr=client.get_world().get_map().to_opendrive()[:200])
"""


@pytest.fixture(scope="module")
def operator_map(tmp_path_factory):
    """The server's --map: a file the operator named on the command line."""
    folder = tmp_path_factory.mktemp("operator")
    path = folder / "MyTown.xodr"
    path.write_text(builtin_xodr("Grid01"))
    return path


@pytest.fixture(scope="module")
def server(operator_map):
    with start_embedded_server("--map", str(operator_map)) as handle:
        yield handle


def _load_all(server, names):
    body = f"NAMES = {names!r}\n" + LOAD_ALL
    r, _ = run_on_server(server, body, sync=False, timeout=180)
    return r


def test_a_path_chosen_by_the_client_is_never_opened(server, tmp_path):
    elsewhere = tmp_path / "Elsewhere.xodr"  # a valid map the operator never named
    elsewhere.write_text(builtin_xodr("Highway01").replace("<OpenDRIVE>", "<OpenDRIVE>\n<!--x-->"))
    not_a_map = tmp_path / "secret.xodr"
    not_a_map.write_text("<secret>token=123</secret>")
    names = [
        str(elsewhere),
        str(not_a_map),
        "/etc/passwd",
        "/proc/self/environ",
        "/no/such/file.xodr",
        "../../../../etc/hostname",
        "~/.bashrc",
    ]
    r = _load_all(server, names)
    assert r["map"].endswith("MyTown")  # nothing was loaded
    for name, message in r["messages"].items():
        assert message is not None, f"{name} was loaded"
        assert "unknown map" in message, message
        said = message.replace(name, "<name>").split("available maps")[0]
        for leak in ("exist", "read", "UTF-8", "XML", "secret", "root", "line", "column"):
            assert leak not in said, (name, message)
    # An existing and a missing file get the same reply, but for their name.
    existing = r["messages"]["/etc/passwd"].replace("/etc/passwd", "<name>")
    missing = r["messages"]["/no/such/file.xodr"].replace("/no/such/file.xodr", "<name>")
    assert existing == missing


def test_maps_load_by_name_including_the_servers_own_file(server, operator_map):
    r = _load_all(server, ["Loop01", "MyTown", "Carla/Maps/Roundabout01", "mytown"])
    assert r["messages"] == dict.fromkeys(["Loop01", "MyTown", "Carla/Maps/Roundabout01", "mytown"])
    assert r["map"].endswith("MyTown")
    body = "result(maps=client.get_available_maps())"
    listed, _ = run_on_server(server, body, sync=False)
    assert "/Game/Carla/Maps/MyTown" in listed["maps"]
    assert str(operator_map.parent) not in str(listed["maps"])
