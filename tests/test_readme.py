"""The README's promises: its two quick-start commands work, and every command is documented."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from nkdash.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def cli_commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


def test_quick_start_is_exactly_two_commands_and_ci_runs_the_second():
    commands = quick_start_commands()
    assert commands == ["scripts/quickstart.sh", "scripts/test.sh"]
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_every_command_is_documented_and_every_documented_command_exists():
    documented = set(re.findall(r"^nkdash ([a-z][a-z-]+)", README, re.M))
    assert cli_commands() - documented == set(), "document these commands in the README"
    assert documented - cli_commands() == set(), "the README names commands that do not exist"


@pytest.mark.slow
def test_quick_start_from_a_fresh_clone(tmp_path):
    """`scripts/quickstart.sh` in a fresh clone: installs, loads the demo lake, serves; /health is 200."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NKDASH_", "ODOO_", "VIRTUAL_ENV"))}
    env.update(NKDASH_DEMO_SCALE="tiny", NKDASH_VIEWER_PASSWORD="v-pass-123", NKDASH_OPERATOR_PASSWORD="o-pass-123")
    proc = subprocess.Popen(
        ["scripts/quickstart.sh", "--days", "3", "--port", "0"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        url = None
        deadline = time.monotonic() + 600
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"serving on (http://\S+/)", line)
            url = match.group(1) if match else None
        assert url, "".join(lines[-30:])
        output = "".join(lines)
        assert "validation of" in output and ": OK" in output
        health = requests.get(url + "health", timeout=30)
        assert health.status_code == 200 and health.json()["status"] in ("ok", "degraded")
        assert requests.get(url, auth=("operator", "o-pass-123"), timeout=30).status_code == 200
        assert (clone / "data-lake" / "star-schema" / "fact_sales").is_dir()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0
    everything = "".join(lines) + proc.stdout.read()
    assert "o-pass-123" not in everything and "v-pass-123" not in everything
