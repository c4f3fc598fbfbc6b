"""``arbitral bench custody`` runs end to end on a small upload (the real run is 1 GiB)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from arbitral.bench.custody import command

pytestmark = [pytest.mark.s3, pytest.mark.slow]


def test_bench_custody_upload_json_report() -> None:
    result = CliRunner().invoke(
        command, ["--upload-mib", "16", "--rounds", "2", "--leaves", "0", "--json"]
    )
    assert result.exit_code == 0, result.output
    upload = json.loads(result.stdout)["upload"]
    assert upload["size_mib"] == 16
    assert upload["endpoint"].startswith("moto http://127.0.0.1:")
    assert upload["api_s"] > 0
    assert upload["boto3_s"] > 0
    assert upload["ratio"] == pytest.approx(upload["boto3_s"] / upload["api_s"])
    assert len(upload["rounds"]) == 2
    assert any(abs(upload["ratio"] - r["ratio"]) < 1e-3 for r in upload["rounds"])
    # The server's own process: it was sampled (its memory before is a whole app's).
    assert upload["rss_before_mib"] > 30
    assert 0 <= upload["peak_delta_mib"] < 64
