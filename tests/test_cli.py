"""The command line's error handling: one line and exit 1 for what the user must fix."""

from __future__ import annotations

from click.testing import CliRunner

from digest.cli import main
from tests.support import env_for


def test_an_error_of_a_command_is_one_line_and_exit_1(cli):
    result = cli("rank", "nobody@example.org")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no subscriber nobody@example.org; run 'digest subscribers sync' first\n"
    )


def test_an_error_in_a_subgroup_is_handled_alike(cli):
    result = cli("subscribers", "resubscribe", "nobody@example.org")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) == 1


def test_a_bad_setting_stops_every_command_before_it_starts(settings, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {**env_for(settings), "DIGEST_SEND_TIME": "25:00"}
    result = CliRunner().invoke(main, ["status"], env=env)
    assert result.exit_code == 1
    assert result.stderr == ("error: DIGEST_SEND_TIME must be HH:MM (24-hour clock), not '25:00'\n")


def test_verbose_adds_the_traceback(cli):
    result = cli("--verbose", "rank", "nobody@example.org")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert "NotFoundError" in result.stderr
    assert result.stderr.endswith(
        "error: no subscriber nobody@example.org; run 'digest subscribers sync' first\n"
    )
