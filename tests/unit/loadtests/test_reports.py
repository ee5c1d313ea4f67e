"""Locust's CSV statistics turned into the summary, the plots and the SLO verdict."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from loadtests import reports

HEADER = ("Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
          "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
          "99.99%,100%")
STATS = "\n".join([
    HEADER,
    "POST,cnn_digits v1,300,0,20,25,3,90,250,30.5,0.0,20,22,24,26,40,50,60,80,90,90,90",
    "POST,cnn_digits v2,100,2,22,26,4,95,400,10.0,0.2,22,23,25,27,45,55,65,85,95,95,95",
    "POST,char_rnn v1,10,0,900,950,800,1500,100,1.0,0.0,900,950,990,1000,1200,1300,1400,1450,1500,1500,1500",
    ",Aggregated,410,2,21,40,3,1500,300,41.5,0.2,21,23,25,27,45,60,200,1000,1500,1500,1500",
]) + "\n"
HISTORY_HEADER = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
                  "99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,"
                  "Total Average Response Time,Total Min Response Time,Total Max Response Time,"
                  "Total Average Content Size")


def _stats(tmp_path: Path, text: str = STATS) -> list[reports.RouteStats]:
    path = tmp_path / "locust_stats.csv"
    path.write_text(text)
    return reports.read_stats(path)


def test_rows_are_read_per_model_and_route(tmp_path: Path) -> None:
    stats = _stats(tmp_path)
    assert [(r.model, r.route) for r in stats] == [("cnn_digits", "v1"), ("cnn_digits", "v2"), ("char_rnn", "v1")]
    assert stats[1] == reports.RouteStats("cnn_digits", "v2", 100, 2, 10.0, 22.0, 45.0, 85.0)


def test_summary_totals_each_model_and_the_run(tmp_path: Path) -> None:
    result = reports.summary(_stats(tmp_path), {"users": 4})
    cnn = result["models"]["cnn_digits"]
    assert (cnn["requests"], cnn["failures"], cnn["requests_per_s"]) == (400, 2, 40.5)
    assert cnn["routes"]["v2"]["p99_ms"] == 85.0
    assert result["total"] == {"requests": 410, "failures": 2, "requests_per_s": 41.5}
    assert result["run"] == {"users": 4}


def test_a_foreign_request_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unexpected request name 'setup'"):
        _stats(tmp_path, HEADER + "\nGET,setup,1,0,1,1,1,1,1,1,0,1,1,1,1,1,1,1,1,1,1,1\n")


def test_budgets_come_from_the_default_and_each_model(tmp_path: Path) -> None:
    slo = tmp_path / "slo.toml"
    slo.write_text("[default]\np99_ms = 84\n[models.char_rnn]\np99_ms = 2000\np50_ms = 800\n")
    assert reports.slo_violations(_stats(tmp_path), slo) == [
        "cnn_digits v2: p99_ms 85 > budget 84",
        "char_rnn v1: p50_ms 900 > budget 800",
    ]


def test_a_route_without_answers_breaks_the_slo(tmp_path: Path) -> None:
    slo = tmp_path / "slo.toml"
    slo.write_text("[default]\np99_ms = 5000\n")
    empty = HEADER + "\nPOST,mlp_classifier v1,0,0,0,0,0,0,0,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A\n"
    stats = _stats(tmp_path, empty)
    assert math.isnan(stats[0].p99_ms)
    assert reports.slo_violations(stats, slo) == ["mlp_classifier v1: no request completed"]


def test_history_becomes_two_plots(tmp_path: Path) -> None:
    rows = [HISTORY_HEADER, "100,0,,Aggregated,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0,0,0,0"]
    rows += [f"{100 + s},4,,Aggregated,{50 + s},0,20,21,22,23,30,35,40,{60 + s},70,70,70,{50 * s},0,20,21,3,70,250"
             for s in range(1, 6)]
    rows.append("103,4,POST,cnn_digits v1,30,0,20,21,22,23,30,35,40,60,70,70,70,90,0,20,21,3,70,250")
    history = tmp_path / "history.csv"
    history.write_text("\n".join(rows) + "\n")
    paths = reports.plot_history(history, tmp_path)
    assert [p.name for p in paths] == ["latency.png", "throughput.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 5000 for p in paths)


def test_history_without_aggregates_is_an_error(tmp_path: Path) -> None:
    history = tmp_path / "history.csv"
    history.write_text(HISTORY_HEADER + "\n")
    with pytest.raises(ValueError, match="recorded nothing"):
        reports.plot_history(history, tmp_path)
