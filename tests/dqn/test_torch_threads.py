"""Torch's intra-op threads of a training run's processes follow the CPUs the training file gives
them (Ray sets a worker's OMP_NUM_THREADS to its CPUs): `learners.num_cpus_per_learner` for the
learner (in the algorithm's process when num_learners is 0), `env_runners.num_cpus_per_env_runner`
for each env runner. On 2 cores one thread each keeps the learner and the env runner from
fighting; a learner of 2 CPUs on top of an env runner of 1 must still start, not wait forever
for a third CPU."""

from __future__ import annotations

from ray.rllib.algorithms.dqn import DQNConfig

from rllib_integration.training.trainer import cpus_needed
from tests.dqn.helpers import CONFIG, assert_no_servers_left, run_python, script_env, tiny_overrides
from tests.dqn.thread_probe import PROBE_FILE_VARIABLE

TRAIN_WITH_PROBE = """
import sys
from dataclasses import replace
import dqn_train
from rllib_integration.training.trainer import main
extras = replace(dqn_train.EXTRAS, callbacks=(*dqn_train.EXTRAS.callbacks,
                                              "tests.dqn.thread_probe:ThreadProbe"))
sys.exit(main({args!r}, extras))
"""


def test_the_run_asks_ray_for_every_cpu_of_its_trial():
    def config(runners: int, **learners) -> DQNConfig:
        return DQNConfig().env_runners(num_env_runners=runners).learners(**learners)

    assert cpus_needed(config(1)) == 2  # the algorithm with its learner, the env runner
    assert cpus_needed(config(0)) == 1  # sampling in the algorithm's process
    assert cpus_needed(config(1, num_cpus_per_learner=2)) == 3
    assert cpus_needed(config(2, num_learners=2, num_cpus_per_learner=2)) == 7


def test_learner_and_env_runner_get_the_torch_threads_of_their_cpus(tmp_path):
    probe = tmp_path / "threads.txt"
    logs = tmp_path / "server_logs"
    args = [str(CONFIG), "--name", "threads", "--directory", str(tmp_path / "results")]
    args += tiny_overrides(logs, iterations=1, steps=40)
    args += ["--set", "learners.num_cpus_per_learner=2", "--set", "env_runners.num_env_runners=1"]
    code = TRAIN_WITH_PROBE.format(args=args)
    result = run_python(code, env=script_env(**{PROBE_FILE_VARIABLE: str(probe)}))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    threads = {}
    for line in probe.read_text().splitlines():
        role, pid, count = line.split()
        threads[role] = (int(pid), int(count))
    assert threads["learner"][1] == 2
    assert threads["env_runner_1"][1] == 1
    assert threads["learner"][0] != threads["env_runner_1"][0]  # a remote env runner
    assert_no_servers_left(logs)
