"""Write create-image's ImageId and SecurityGroupIds into a cluster YAML, keeping its comments.

PyYAML would drop comments and reorder keys, so this edits lines: every `ImageId: ...` and
every flow-style `SecurityGroupIds: [...]` line of the file (all node types use the same image).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from aws.errors import HelperError

_IMAGE = re.compile(r"^(\s*(?:-\s*)?ImageId:\s*)([^\s#]+)(.*)$")
_GROUPS = re.compile(r"^(\s*(?:-\s*)?SecurityGroupIds:\s*)\[[^\]]*\](.*)$")


def fill_node_configs(path: Path, image_id: str, group_ids: list[str], region: str) -> list[str]:
    """Replace the ids in place (atomically); return warnings (e.g. a region mismatch)."""
    try:
        lines = path.read_text().splitlines(keepends=True)
    except OSError as error:
        raise HelperError(f"--cluster-yaml {path}: {error.strerror}") from None
    images = groups = 0
    for i, line in enumerate(lines):
        body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        if match := _IMAGE.match(body):
            lines[i] = f"{match[1]}{image_id}{match[3]}{newline}"
            images += 1
        elif match := _GROUPS.match(body):
            lines[i] = f"{match[1]}[{', '.join(group_ids)}]{match[2]}{newline}"
            groups += 1
    if not images:
        raise HelperError(f"--cluster-yaml {path}: no `ImageId:` line to fill")
    if not groups:
        raise HelperError(
            f"--cluster-yaml {path}: no `SecurityGroupIds: [...]` line to fill (flow style)"
        )
    text = "".join(lines)
    config = yaml.safe_load(text)  # still YAML, and tells us the region to compare
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
    warnings = []
    configured = (config.get("provider") or {}).get("region") if isinstance(config, dict) else None
    if configured != region:
        warnings.append(
            f"{path}: provider.region is {configured!r} but the AMI is in {region!r}: set "
            f"provider.region: {region}"
        )
    return warnings
