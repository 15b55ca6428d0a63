"""Progress on long command-line work: plain lines when not on a terminal, a rich bar on one."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from store.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.no_db
def test_plain_lines_every_tenth_when_not_a_terminal():
    out = io.StringIO()
    with progress_bar(out) as report:
        for done in range(0, 101):
            report("importing", done, 100)
        report("fetching pictures", 1, 3)
        report("fetching pictures", 3, 3)

    assert out.getvalue().splitlines() == [f"importing: {n}/100" for n in range(0, 101, 10)] + [
        "fetching pictures: 1/3",
        "fetching pictures: 3/3",
    ]


@pytest.mark.no_db
def test_a_bar_on_a_terminal():
    out = Terminal()
    with progress_bar(out) as report:
        report("importing", 50, 100)
        report("importing", 100, 100)

    shown = out.getvalue()
    assert "importing" in shown and "100/100" in shown
    assert "importing: 50/100\n" not in shown  # not the plain lines


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "store.cli", *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )


@pytest.mark.no_db
@pytest.mark.slow
def test_demo_data_and_reconcile_report_progress_on_stderr(tmp_path):
    env = {"STORE_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", "STORE_MEDIA_DIR": str(tmp_path / "media")}

    demo = run("demo-data", env=env)
    reconcile = run("reconcile", env=env)

    assert demo.returncode == 0, demo.stderr
    assert demo.stdout == "demo data loaded\n"
    steps = demo.stderr.splitlines()
    total = int(steps[0].split("/")[1])
    assert steps[0] == f"demo data: 0/{total}" and steps[-1] == f"demo data: {total}/{total}"
    assert all(line.startswith("demo data: ") for line in steps)
    assert reconcile.returncode == 0, reconcile.stderr
    assert reconcile.stdout == ""  # nothing to repair: no line per order
    last = reconcile.stderr.splitlines()[-1]  # one step for each domain's checks
    assert last.startswith("reconcile: ") and last.split(": ")[1].split("/")[0] == last.split("/")[1]
