"""The project's shape: the package imports and the README's commands are the ones CI runs."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_command(marker: str) -> str:
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.match(rf"^\s*\$ (.*?)\s*# {marker}$", line)
        if match:
            return match.group(1)
    raise AssertionError(f"README.md has no command marked '# {marker}'")


def test_package_imports():
    import rllib_integration

    assert re.fullmatch(r"\d+\.\d+\.\d+", rllib_integration.__version__)


def test_ci_runs_the_readme_test_command():
    # .ci/run extracts the marked command from the README; check it extracts this exact one.
    script = (ROOT / ".ci" / "run").read_text()
    extract = re.search(r"cmd=\$\((.*)\)\n", script).group(1)
    extracted = subprocess.run(
        ["bash", "-c", extract], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert extracted == _readme_command("test command")
    assert 'bash -c "$cmd"' in script
    assert extracted.endswith("-m pytest")


def test_readme_main_job_trains_dqn_on_the_example_config():
    command = _readme_command("main job")
    assert command.startswith("bash scripts/bootstrap.sh && ")
    assert command.endswith("dqn_train.py dqn_example/dqn_config.yaml --name dqn")
    assert (ROOT / "dqn_example" / "dqn_config.yaml").is_file()


def test_ci_script_fails_when_tests_fail(tmp_path):
    # A copy of the project whose README test command fails must make .ci/run fail.
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_text((ROOT / ".ci" / "run").read_text())
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("")
    for command, expected in [("exit 1", 1), ("exit 5", 5), ("true", 0)]:
        (tmp_path / "README.md").write_text(f"```\n$ {command}  # test command\n```\n")
        result = subprocess.run(["bash", ".ci/run"], cwd=tmp_path, capture_output=True)
        assert result.returncode == expected, (command, result.stderr)
    # No test files yet: "no tests collected" is not a failure.
    (tmp_path / "tests" / "test_x.py").unlink()
    (tmp_path / "README.md").write_text("```\n$ exit 5  # test command\n```\n")
    assert subprocess.run(["bash", ".ci/run"], cwd=tmp_path).returncode == 0


def test_the_readme_walks_through_the_shipped_lane_keeping_example():
    """The experiment class the README shows is the file that ships, word for word."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### 1. The experiment class") :]
    shown = section[section.index("```python\n") + len("```python\n") :]
    shown = shown[: shown.index("```\n")]
    shipped = (ROOT / "examples" / "lane_keeping" / "lane_keeping.py").read_text()
    assert shipped.rstrip().endswith(shown.rstrip())
    assert "type: lane_keeping:LaneKeeping" in section
    assert (ROOT / "examples" / "lane_keeping" / "ppo_config.yaml").is_file()
