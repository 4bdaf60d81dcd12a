"""The quality floor on the small synthetic world (slow: `make test-slow`): the blend beats
"recent purchases + best sellers" by 15% MAP@12 and the two-tower alone beats the best sellers."""

import json

import pytest
from typer.testing import CliRunner

from hmbatch.cli import app


@pytest.mark.slow
def test_small_world_quality_floor(tmp_path):
    runner = CliRunner()
    data, ws = tmp_path / "data", tmp_path / "ws"
    for args in (["synth", data, "--scale", "small", "--seed", "0"], ["build-db", data, "--workspace", ws],
                 ["train", "--holdout-days", "7", "--workspace", ws]):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", "--tune", "--json", "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    res = json.loads(result.output)["results"]
    assert res["blend"]["map@12"] >= 1.15 * res["baseline: recent purchases + best sellers"]["map@12"]
    assert res["two-tower"]["map@12"] > res["baseline: last week's best sellers"]["map@12"]
