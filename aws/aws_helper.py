"""aws_helper.py: bake a CARLA + RLlib AMI for the Ray autoscaler, and manage single instances.

    python aws/aws_helper.py create-image --name carla-rllib-v1 \\
        --installation-scripts aws/install/install.sh --region us-east-1
    python aws/aws_helper.py check-cluster dqn_example/dqn_autoscaler.yaml

Progress goes to stderr; results (ids, YAML lines, --json) to stdout. Exit status: 0 success,
1 an error (one line says what and where), 2 bad usage, 130/143 interrupted, and for `exec` the
remote command's own status. AWS settings come from boto3's usual chain (--profile, --region,
AWS_PROFILE, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL[_EC2], ~/.aws/config).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `aws` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import botocore.exceptions  # noqa: E402

from aws import ec2_resources as ec2  # noqa: E402
from aws.errors import HelperError, Interrupted  # noqa: E402
from aws.ssh_access import DEFAULT_EXCLUDES, DEFAULT_KEYS_DIR, SshOptions, ssh_target  # noqa: E402

# paramiko (image_builder, ssh_remote) and Ray (cluster_check) load only in the commands that
# use them: most commands are one EC2 call, and start-up time is most of their run time.

log = logging.getLogger("aws_helper")
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- argument parsing
# One function per sub-command; each names its handler with set_defaults(run=...).


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--region", help="AWS region (default: boto3's, e.g. AWS_DEFAULT_REGION)")
    common.add_argument("--profile", help="AWS profile from your AWS config files")
    verbosity = common.add_mutually_exclusive_group()
    verbosity.add_argument("--quiet", action="store_true", help="only warnings and errors")
    verbosity.add_argument("--debug", action="store_true", help="more detail (never credentials)")
    return common


def _ssh_options() -> argparse.ArgumentParser:
    ssh = argparse.ArgumentParser(add_help=False)
    group = ssh.add_argument_group("SSH")
    group.add_argument("--ssh-user", default="ubuntu", help="remote user (default: ubuntu)")
    group.add_argument(
        "--ssh-key", type=Path, help="private key (default: KEYS_DIR/<key>_<region>.pem)"
    )
    group.add_argument("--keys-dir", type=Path, default=DEFAULT_KEYS_DIR,
                       help="private keys and known_hosts (default: ~/.carla-rllib/keys)")  # fmt: skip
    group.add_argument("--ssh-host", help="connect here instead of the instance's IP "
                       "(a tunnel or bastion forward; tests use 127.0.0.1)")  # fmt: skip
    group.add_argument("--ssh-port", type=int, default=22, help="SSH port (default: 22)")
    group.add_argument("--private-ip", action="store_true",
                       help="use the private IP (from inside the VPC)")  # fmt: skip
    group.add_argument("--ssh-timeout", type=float,
                       help="seconds to keep retrying until SSH answers")  # fmt: skip
    return ssh


def _network_options() -> argparse.ArgumentParser:
    network = argparse.ArgumentParser(add_help=False)
    group = network.add_argument_group("key pair and network")
    group.add_argument("--key-name", default="carla-rllib", help="EC2 key pair (reused if present)")
    group.add_argument("--security-group", default="carla-rllib",
                       help="security group name (reused if present)")  # fmt: skip
    group.add_argument("--subnet-id", help="launch into this subnet (default: the default VPC)")
    group.add_argument("--ssh-cidr", action="append", default=[], metavar="CIDR",
                       help="allow SSH from this address/CIDR (repeatable; default: your public "
                       "IP as seen by checkip.amazonaws.com); a reused group's other SSH sources "
                       "are removed. 0.0.0.0/0 opens SSH to everyone")  # fmt: skip
    group.add_argument("--poll-interval", type=float, default=15.0,
                       help="seconds between AWS status polls (default: 15)")  # fmt: skip
    group.add_argument("--boot-timeout", type=float, default=900.0,
                       help="seconds for an instance to run or terminate (default: 900)")  # fmt: skip
    return network


def _add_create_image(sub: Any, common: Any, network: Any, ssh: Any) -> None:
    p = sub.add_parser("create-image", parents=[common, network, ssh],
                       help="bake an AMI from a base image and installation scripts")  # fmt: skip
    p.set_defaults(run=cmd_create_image)
    p.add_argument("--name", required=True, help="AMI name (must not exist yet)")
    p.add_argument("--installation-scripts", nargs="+", type=Path, required=True, metavar="SCRIPT",
                   help="run in this order on the builder, as the SSH user; each must exit 0")  # fmt: skip
    p.add_argument("--upload", nargs="*", type=Path, metavar="FILE",
                   default=[ROOT / "requirements.txt"],
                   help="files copied next to the scripts (default: the project's requirements.txt)")  # fmt: skip
    p.add_argument(
        "--instance-type", default="c5.2xlarge", help="builder type (default: c5.2xlarge)"
    )
    p.add_argument("--volume-size", type=int, default=200, help="root volume GiB (default: 200)")
    p.add_argument("--base-image", default=ec2.DEFAULT_BASE_IMAGE,
                   help="AMI id or name pattern (default: %(default)r)")  # fmt: skip
    p.add_argument("--base-image-owner", default=ec2.DEFAULT_BASE_IMAGE_OWNER,
                   help="owner for a name pattern (default: amazon)")  # fmt: skip
    p.add_argument("--remote-dir", default="carla-rllib-install",
                   help="where the scripts go on the builder (relative: from the home directory)")  # fmt: skip
    p.add_argument("--script-env", nargs="+", action="extend", type=_assignment, default=[],
                   metavar="NAME=VALUE",
                   help="set these in the scripts' environment, e.g. CARLA_SHA256=... for "
                   "install.sh (visible in the builder's process list: no secrets)")  # fmt: skip
    p.add_argument("--script-timeout", type=float, default=7200.0,
                   help="seconds each script may run (default: 7200)")  # fmt: skip
    p.add_argument("--image-timeout", type=float, default=7200.0,
                   help="seconds for the AMI to become available (default: 7200)")  # fmt: skip
    p.add_argument("--cluster-yaml", type=Path, metavar="FILE",
                   help="also write ImageId and SecurityGroupIds into this cluster YAML's "
                   "node_configs (comments kept), e.g. dqn_example/dqn_autoscaler.yaml")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _assignment(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def _add_launch(sub: Any, common: Any, network: Any, ssh: Any) -> None:
    p = sub.add_parser("launch", parents=[common, network, ssh], help="launch an instance")
    p.set_defaults(run=cmd_launch)
    p.add_argument("--name", default="carla-rllib", help="Name tag (default: carla-rllib)")
    p.add_argument("--image", default=ec2.DEFAULT_BASE_IMAGE, help="AMI id or name pattern")
    p.add_argument("--image-owner", default=ec2.DEFAULT_BASE_IMAGE_OWNER)
    p.add_argument("--instance-type", default="g4dn.2xlarge")
    p.add_argument("--volume-size", type=int, default=200)
    p.add_argument("--user-data", type=Path, help="file passed as EC2 user data")
    p.add_argument("--no-wait-ssh", action="store_true",
                   help="do not wait for SSH (and record the host key) before returning")  # fmt: skip
    p.add_argument("--json", action="store_true")


def _add_power(sub: Any, common: Any) -> None:
    for name, text in [("start", "start a stopped instance"), ("stop", "stop an instance"),
                       ("terminate", "terminate an instance")]:  # fmt: skip
        p = sub.add_parser(name, parents=[common], help=text)
        p.set_defaults(run=cmd_power)
        p.add_argument("--instance-id", required=True)
        p.add_argument("--timeout", type=float, default=900.0)
        p.add_argument("--poll-interval", type=float, default=15.0)


def _add_info(sub: Any, common: Any) -> None:
    p = sub.add_parser("info", parents=[common], help="show an instance, or list the project's")
    p.set_defaults(run=cmd_info)
    p.add_argument("--instance-id", help="without it: every live instance the helper created")
    p.add_argument("--field", choices=sorted(INFO_FIELDS), help="print only this value")
    p.add_argument("--keys-dir", type=Path, default=DEFAULT_KEYS_DIR)
    p.add_argument("--json", action="store_true")


def _add_put(sub: Any, common: Any, ssh: Any) -> None:
    p = sub.add_parser("put", parents=[common, ssh], help="copy a local file or directory up")
    p.set_defaults(run=cmd_put)
    p.add_argument("--instance-id", required=True)
    p.add_argument("--source", type=Path, required=True, help="local path")
    p.add_argument(
        "--target", required=True, help="remote path (relative: from the home directory)"
    )
    p.add_argument("--exclude", nargs="*", default=list(DEFAULT_EXCLUDES),
                   help="name patterns to skip (default: %(default)s)")  # fmt: skip


def _add_get(sub: Any, common: Any, ssh: Any) -> None:
    p = sub.add_parser("get", parents=[common, ssh], help="copy a remote file or directory down")
    p.set_defaults(run=cmd_get)
    p.add_argument("--instance-id", required=True)
    p.add_argument(
        "--source", required=True, help="remote path (relative: from the home directory)"
    )
    p.add_argument("--target", type=Path, required=True, help="local path")


def _add_exec(sub: Any, common: Any, ssh: Any) -> None:
    p = sub.add_parser("exec", parents=[common, ssh],
                       help="run a command (or upload and run --script); exits with its status")  # fmt: skip
    p.set_defaults(run=cmd_exec)
    p.add_argument("--instance-id", required=True)
    p.add_argument("--script", type=Path, help="local script to upload and run")
    p.add_argument("--remote-dir", default=".",
                   help="where --script goes and runs (default: the remote home directory)")  # fmt: skip
    p.add_argument("--timeout", type=float, help="seconds the command may run")
    p.add_argument("remote_command", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")


def _add_check_cluster(sub: Any, common: Any) -> None:
    p = sub.add_parser("check-cluster", parents=[common],
                       help="validate a Ray autoscaler YAML against Ray's schema and the training config")  # fmt: skip
    p.set_defaults(run=cmd_check_cluster)
    p.add_argument("cluster_yaml", nargs="?", type=Path,
                   default=Path("dqn_example/dqn_autoscaler.yaml"))  # fmt: skip
    p.add_argument("--training-config", type=Path, default=Path("dqn_example/dqn_config.yaml"),
                   help="RLlib training YAML whose env-runner/learner resources must fit")  # fmt: skip
    p.add_argument("--json", action="store_true")


def _parser() -> argparse.ArgumentParser:
    common, network, ssh = _common_options(), _network_options(), _ssh_options()
    parser = argparse.ArgumentParser(
        prog="aws_helper.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_create_image(sub, common, network, ssh)
    _add_launch(sub, common, network, ssh)
    _add_power(sub, common)
    _add_info(sub, common)
    _add_put(sub, common, ssh)
    _add_get(sub, common, ssh)
    _add_exec(sub, common, ssh)
    _add_check_cluster(sub, common)
    return parser


INFO_FIELDS = {
    "instance_id": "InstanceId",
    "state": "State",
    "public_ip": "PublicIpAddress",
    "private_ip": "PrivateIpAddress",
    "instance_type": "InstanceType",
    "image_id": "ImageId",
    "key_name": "KeyName",
    "pem_file": "KeyFile",
    "name": "Name",
}


# ---------------------------------------------------------------- commands


def _client(args: argparse.Namespace) -> tuple[Any, str]:
    client = ec2.ec2_client(args.region, args.profile)
    return client, client.meta.region_name


def _ssh_settings(args: argparse.Namespace, default_timeout: float) -> SshOptions:
    return SshOptions(
        user=args.ssh_user,
        key_file=args.ssh_key,
        host=args.ssh_host,
        port=args.ssh_port,
        private_ip=args.private_ip,
        timeout=args.ssh_timeout if args.ssh_timeout is not None else default_timeout,
        keys_dir=args.keys_dir,
    )


def _access_settings(args: argparse.Namespace) -> ec2.AccessSettings:
    return ec2.AccessSettings(
        key_name=args.key_name,
        security_group=args.security_group,
        subnet_id=args.subnet_id,
        ssh_cidrs=[ec2.parse_cidr(c) for c in args.ssh_cidr],
    )


def cmd_create_image(args: argparse.Namespace) -> int:
    from aws import image_builder

    client, region = _client(args)
    settings = image_builder.BuildSettings(
        name=args.name,
        scripts=args.installation_scripts,
        uploads=args.upload,
        instance_type=args.instance_type,
        volume_size=args.volume_size,
        base_image=args.base_image,
        base_image_owner=args.base_image_owner,
        access=_access_settings(args),
        remote_dir=args.remote_dir,
        script_env=dict(args.script_env),
        boot_timeout=args.boot_timeout,
        script_timeout=args.script_timeout,
        image_timeout=args.image_timeout,
        poll_interval=args.poll_interval,
        ssh=_ssh_settings(args, 600.0),
    )
    if args.cluster_yaml is not None and not args.cluster_yaml.is_file():
        raise HelperError(f"--cluster-yaml {args.cluster_yaml}: no such file")
    result = image_builder.build_image(client, settings, region)
    if args.cluster_yaml is not None:
        from aws.cluster_yaml import fill_node_configs

        for warning in fill_node_configs(
            args.cluster_yaml, result.ImageId, result.SecurityGroupIds, region
        ):
            log.warning("%s", warning)
        log.warning("wrote ImageId and SecurityGroupIds into %s", args.cluster_yaml)
    node_config = {"ImageId": result.ImageId, "SecurityGroupIds": result.SecurityGroupIds}
    if args.json:
        print(json.dumps({**result.to_dict(), "node_config": node_config}, indent=2))
        return 0
    groups = ", ".join(result.SecurityGroupIds)
    print(f"ImageId: {result.ImageId}")
    print(f"SecurityGroupIds: [{groups}]  ({result.SecurityGroupName})")
    print(f"KeyName: {result.KeyName}  (private key: {result.KeyFile})")
    print(f"Region: {region}")
    print()
    print("Paste into each node type's node_config in dqn_example/dqn_autoscaler.yaml")
    print(f"(and set provider.region: {region}):")
    print(f"      ImageId: {result.ImageId}")
    print(f"      SecurityGroupIds: [{groups}]")
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    client, region = _client(args)
    options = _ssh_settings(args, 600.0)
    if args.user_data is not None and not args.user_data.is_file():
        raise HelperError(f"--user-data {args.user_data}: no such file")
    image = ec2.resolve_base_image(client, args.image, args.image_owner)
    settings = _access_settings(args)
    access = ec2.prepare_access(client, region, settings, args.keys_dir, args.ssh_key)
    spec = ec2.LaunchSpec(
        image=image,
        instance_type=args.instance_type,
        volume_size=args.volume_size,
        name=args.name,
        role="instance",
        access=settings,
        group_id=access.group_id,
        user_data=args.user_data.read_text() if args.user_data else None,
    )
    with ec2.launched_instance(
        client, spec, args.boot_timeout, args.poll_interval, keep=True
    ) as instance_id:
        instance = ec2.describe_instance(client, instance_id)
        if not args.no_wait_ssh:  # a fresh instance: the one moment its host key can be recorded
            from aws import ssh_remote

            target = ssh_target(instance, options, access.key_file)
            store = ssh_remote.HostKeyStore(options.known_hosts)
            ssh_remote.connect(target, store, options.timeout).close()
    info = _instance_info(instance, args.keys_dir, region)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_info(info)
        address = instance.get("PublicIpAddress") or instance.get("PrivateIpAddress")
        print(f"ssh -i {access.key_file} {args.ssh_user}@{address}")
    return 0


def cmd_power(args: argparse.Namespace) -> int:
    client, _ = _client(args)
    instance_id = args.instance_id
    ec2.describe_instance(client, instance_id)  # a clear error for an unknown id
    if args.command == "start":
        client.start_instances(InstanceIds=[instance_id])
        waiter = "instance_running"
    elif args.command == "stop":
        client.stop_instances(InstanceIds=[instance_id])
        waiter = "instance_stopped"
    else:
        client.terminate_instances(InstanceIds=[instance_id])
        waiter = "instance_terminated"
    ec2.wait_for(
        client, waiter, f"{instance_id} to {args.command}", args.timeout, args.poll_interval,
        InstanceIds=[instance_id],
    )  # fmt: skip
    state = ec2.describe_instance(client, instance_id)["State"]["Name"]
    print(f"{instance_id}: {state}")
    return 0


def _instance_info(instance: dict, keys_dir: Path, region: str) -> dict[str, Any]:
    key_name = instance.get("KeyName")
    return {
        "InstanceId": instance["InstanceId"],
        "Name": ec2.tag_value(instance, "Name"),
        "State": instance["State"]["Name"],
        "InstanceType": instance.get("InstanceType"),
        "ImageId": instance.get("ImageId"),
        "PublicIpAddress": instance.get("PublicIpAddress"),
        "PrivateIpAddress": instance.get("PrivateIpAddress"),
        "KeyName": key_name,
        "KeyFile": str(ec2.pem_path(keys_dir, key_name, region)) if key_name else None,
        "Role": ec2.tag_value(instance, ec2.ROLE_TAG),
    }


def _print_info(info: dict[str, Any]) -> None:
    for key, value in info.items():
        print(f"{key}: {value if value is not None else '-'}")


def cmd_info(args: argparse.Namespace) -> int:
    client, region = _client(args)
    if args.instance_id:
        info = _instance_info(
            ec2.describe_instance(client, args.instance_id), args.keys_dir, region
        )
        if args.field:
            value = info[INFO_FIELDS[args.field]]
            if value is None:
                raise HelperError(f"{args.instance_id} has no {args.field}")
            print(value)
        elif args.json:
            print(json.dumps(info, indent=2))
        else:
            _print_info(info)
        return 0
    if args.field:
        raise HelperError("--field needs --instance-id")
    infos = [_instance_info(i, args.keys_dir, region) for i in ec2.managed_instances(client)]
    if args.json:
        print(json.dumps(infos, indent=2))
    else:
        for info in infos:
            print(f"{info['InstanceId']}  {info['State']:<9} {info['Role'] or '-':<12} "
                  f"{info['PublicIpAddress'] or '-':<15} {info['Name'] or '-'}")  # fmt: skip
    return 0


def _session(args: argparse.Namespace) -> Any:
    from aws import ssh_remote

    client, region = _client(args)
    instance = ec2.describe_instance(client, args.instance_id)
    if instance["State"]["Name"] != "running":
        raise HelperError(f"{args.instance_id} is {instance['State']['Name']}, not running")
    options = _ssh_settings(args, 60.0)
    key_file = options.key_file or ec2.pem_path(
        options.keys_dir, instance.get("KeyName", "?"), region
    )
    if not Path(key_file).expanduser().is_file():
        raise HelperError(f"private key {key_file} not found: pass --ssh-key FILE")
    fingerprints = _console_fingerprints(client, args.instance_id)
    target = ssh_target(instance, options, Path(key_file).expanduser())
    store = ssh_remote.HostKeyStore(options.known_hosts)
    return ssh_remote.connect(target, store, options.timeout, fingerprints)


def _console_fingerprints(client: Any, instance_id: str) -> list[str]:
    try:
        output = client.get_console_output(InstanceId=instance_id, Latest=True).get("Output", "")
    except botocore.exceptions.ClientError as error:
        log.debug("no console output for %s: %s", instance_id, error)
        return []
    from aws import ssh_remote

    return ssh_remote.console_fingerprints(output or "")


def cmd_put(args: argparse.Namespace) -> int:
    if not args.source.exists():
        raise HelperError(f"--source {args.source}: no such file or directory")
    with _session(args) as session:
        count = session.put(args.source, args.target, args.exclude)
    log.info("copied %d file(s) to %s:%s", count, args.instance_id, args.target)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    with _session(args) as session:
        count = session.get(args.source, args.target)
    log.info("copied %d file(s) from %s:%s", count, args.instance_id, args.source)
    return 0


def _script_command(remote_dir: str, name: str) -> str:
    from aws import ssh_remote

    return ssh_remote.remote_script_command(remote_dir, name)


def cmd_exec(args: argparse.Namespace) -> int:
    command_words = (
        args.remote_command[1:] if args.remote_command[:1] == ["--"] else args.remote_command
    )
    if args.script is None and not command_words:
        raise HelperError("exec: give a command after -- or --script FILE")
    if args.script is not None and not args.script.is_file():
        raise HelperError(f"--script {args.script}: no such file")
    with _session(args) as session:
        if args.script is not None:
            session.put(args.script, f"{args.remote_dir.rstrip('/')}/{args.script.name}")
            run_script = _script_command(args.remote_dir, args.script.name)
            command = " ".join([run_script, *map(shlex.quote, command_words)])
        else:
            command = " ".join(command_words)  # one shell command line, as with `ssh host cmd`
        # Like `ssh host cmd`: the command's output is this command's stdout.
        status = session.run(command, timeout=args.timeout, out=sys.stdout.buffer)
    if status != 0:
        log.warning("remote command exited with status %d", status)
    return status if 0 <= status < 256 else 255


def cmd_check_cluster(args: argparse.Namespace) -> int:
    from aws.cluster_check import check_cluster  # imports Ray: only for this command

    report = check_cluster(args.cluster_yaml, args.training_config)
    if args.json:
        print(json.dumps({"ok": report.ok, "errors": report.errors, "warnings": report.warnings,
                          "notes": report.notes}, indent=2))  # fmt: skip
    else:
        for line in report.notes:
            print(f"note: {line}")
        for line in report.warnings:
            print(f"warning: {line}")
        for line in report.errors:
            print(f"error: {line}")
        print(f"{args.cluster_yaml}: {'OK' if report.ok else f'{len(report.errors)} problem(s)'}")
    return 0 if report.ok else 1


# ---------------------------------------------------------------- entry point


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def handle_signals() -> None:
    """Ctrl-C raises KeyboardInterrupt and SIGTERM raises Interrupted, so that `finally` blocks
    terminate what this run launched.

    A signal the caller ignores stays ignored, as with any Unix tool: a background job of a
    non-interactive shell starts with SIGINT ignored so that Ctrl-C at the terminal spares it
    (stop such a run with SIGTERM).
    """
    handlers = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: _raise_interrupted}
    for sig, handler in handlers.items():
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, handler)


def _setup_logging(args: argparse.Namespace) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("aws_helper: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.WARNING if args.quiet else logging.DEBUG if args.debug else logging.INFO)
    log.propagate = False
    # boto3/botocore/paramiko stay at WARNING even with --debug: their debug logs carry request
    # headers and signatures, which do not belong in a terminal scrollback or a CI log.
    for name in ("boto3", "botocore", "urllib3", "paramiko"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args)
    handle_signals()
    try:
        return args.run(args)
    except HelperError as error:
        log.error("error: %s", error)
    except botocore.exceptions.NoCredentialsError:
        log.error(
            "error: no AWS credentials: run `aws configure`, or set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    except botocore.exceptions.ClientError as error:
        details = error.response.get("Error", {})
        log.error(
            "error: EC2 %s failed: %s: %s",
            error.operation_name, details.get("Code", "?"), details.get("Message", error),
        )  # fmt: skip
    except botocore.exceptions.BotoCoreError as error:
        log.error("error: AWS: %s", error)
    except Exception as error:  # SSH/SFTP failures mid-command, odd service replies: one line
        log.error("error: %s: %s", type(error).__name__, error)
        log.debug("traceback:", exc_info=True)
    except KeyboardInterrupt:
        log.error("interrupted (Ctrl-C)")
        return 130
    except Interrupted as interrupt:
        log.error("interrupted (signal %d)", interrupt.signum)
        return 128 + interrupt.signum
    return 1


if __name__ == "__main__":
    sys.exit(main())
