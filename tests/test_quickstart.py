"""The README's first command, as a new user runs it: the console script on the bundled example."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.support import ROOT


@pytest.mark.slow
def test_the_bundled_example_runs_and_says_where_the_mail_is(tmp_path: Path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    command = [sys.executable, "-m", "digest", "--env-file", ".env.example", "run"]

    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "431 new paper(s)" in first.stdout
    assert "emails written to outbox/" in first.stdout
    written = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(written) == 3
    recipients = set()
    for path in written:
        assert str(path.relative_to(tmp_path)) in first.stdout
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        recipients.add(message["To"].addresses[0].addr_spec)
    assert recipients == {"ada@example.org", "grace@example.org", "alan@example.org"}
    assert (tmp_path / "digest.sqlite3").exists()

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "0 digest(s) sent" in second.stdout
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3
