"""``arbitral bench storage`` runs end to end on a small size (the real run is 1 GiB)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from arbitral.bench.storage import LIMIT_MIB, command

pytestmark = [pytest.mark.s3, pytest.mark.slow]


def test_bench_storage_json_report() -> None:
    result = CliRunner().invoke(command, ["--size-mib", "16", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["size_mib"] == 16
    assert report["s3_endpoint"].startswith("moto http://127.0.0.1:")
    scenarios = {s["scenario"]: s for s in report["scenarios"]}
    assert list(scenarios) == ["baseline", "local", "s3"]
    for scenario in scenarios.values():
        assert scenario["sha256"] == report["sha256sum"]
        assert scenario["sha256_match"] is True
        assert scenario["seconds"] > 0
        assert scenario["peak_delta_mib"] < LIMIT_MIB
        assert scenario["peak_reset"] is True
    assert scenarios["s3"]["detail"].startswith("s3 bucket 'arbitral-bench'")


def test_bench_storage_rejects_a_bad_s3_url() -> None:
    result = CliRunner().invoke(command, ["--s3-url", "file:///tmp/x"])
    assert result.exit_code == 2
    assert "--s3-url" in result.output
