"""``arbitral bench awards`` runs end to end on a few awards (the real run issues 110)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from arbitral.bench.awards import command

pytestmark = [pytest.mark.slow]


def test_bench_awards_json_report() -> None:
    result = CliRunner().invoke(
        command, ["--awards", "3", "--throughput", "2", "--workers", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["backend"] == "sqlite"
    assert figures["awards"] == 2  # the first of three warms the caches
    assert figures["pages"] >= 2
    assert figures["pipeline_ms"] > 0
    assert figures["weasyprint_ms"] > 0
    assert figures["ratio"] == pytest.approx(figures["pipeline_ms"] / figures["weasyprint_ms"])
    assert figures["throughput_awards"] == 2
    assert figures["per_second"] == pytest.approx(2 / figures["throughput_s"])
