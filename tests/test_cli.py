"""The CLI's skeleton: help, env, and the optional-dependency helper."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from dso._optional import MissingDependency, require
from dso.cli import app


def test_help_lists_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "env" in result.output


def test_env_prints_versions():
    result = CliRunner().invoke(app, ["env"])
    assert result.exit_code == 0
    assert "python" in result.output and "mujoco" in result.output


def test_python_dash_m_runs():
    proc = subprocess.run([sys.executable, "-m", "dso", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout


def test_cli_import_leaves_heavy_libraries_out():
    """`dso --help` and `dso check` start without torch, trimesh, MuJoCo or Ray: the commands
    import what they use."""
    heavy = ("torch", "trimesh", "mujoco", "ray", "scipy")
    code = f"import sys, dso.cli; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == []


def test_require_names_the_extra():
    with pytest.raises(MissingDependency, match=r"dso\[ray\]"):
        require("surely_not_a_module_xyz", "ray", "labelling on a cluster")
    assert require("json", "core").dumps([1]) == "[1]"
