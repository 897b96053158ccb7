"""What the machine causes (a full disk, a database that cannot be written) is one line and
exit 2, like a user's bad input, and a rerun resumes; a bug stays a traceback."""

import errno
import sqlite3

import pytest
import typer

from dso.cli_errors import USAGE_ERROR, user_errors


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device", "/data/ds/meshes/.7.ply.tmp-1"),
    sqlite3.OperationalError("database or disk is full"),
])
def test_machine_errors_are_one_line_and_exit_2(error, capsys):
    with pytest.raises(typer.Exit) as stopped, user_errors():
        raise error
    assert stopped.value.exit_code == USAGE_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert str(error).split(":")[0] in err


def test_a_bug_is_not_turned_into_a_user_error():
    with pytest.raises(KeyError), user_errors():
        raise KeyError("a bug")
