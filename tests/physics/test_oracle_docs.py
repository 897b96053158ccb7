"""docs/oracle.md's table of `dso check --json` keys is the output's real key list, in order, so
the documentation cannot drift from `CheckResult.to_dict()`."""

import re
from pathlib import Path

from dso.physics.result import CheckResult

DOC = Path(__file__).parents[2] / "docs" / "oracle.md"


def _documented_keys() -> list[str]:
    text = DOC.read_text()
    section = text.split("\n## JSON output\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.match(r"\| `([a-z_]+)` \|", row).group(1) for row in rows]


def test_every_json_key_is_documented_in_order():
    keys = _documented_keys()
    assert keys == list(CheckResult().to_dict())
    ok = CheckResult(status="ok", stable=True, tilt_deg=1.0)
    assert list(ok.to_dict()) == keys  # the same keys whatever the result


def test_the_documented_error_kinds_are_the_ones_in_result_py():
    section = DOC.read_text().split("\n## JSON output\n", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in section.splitlines() if line.startswith("| `error_kind`"))
    documented = set(re.findall(r"`([a-z_]+)`", row.split("|")[4]))
    docstring = CheckResult.__doc__.split("names the class\n", 1)[1].split("(", 1)[1]
    docstring = docstring.split(")", 1)[0]
    assert documented == {k.strip() for k in docstring.replace("\n", " ").split(",")}
