"""The pure parts of the end-to-end benchmark: schedule, statistics, saturation, canaries."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import yaml

from benchmarks.pipeline_e2e import (
    canary_leaks,
    parse_args,
    process_layout,
    run_env,
    write_policy,
)
from benchmarks.pipeline_e2e_report import markdown_table
from benchmarks.pipeline_e2e_stats import (
    BenchmarkError,
    LatencyStats,
    RateResult,
    Targets,
    open_loop_schedule,
    parse_rates,
    percentile,
    saturation_point,
    summarise_rate,
)
from benchmarks.pipeline_e2e_trace import segment_stats
from benchmarks.prompts import make_prompt, make_prompts
from pipeline.policy import load_policy


# ----------------------------------------------------------------------- schedule ----
def test_schedule_is_open_loop_and_evenly_spaced() -> None:
    offsets = open_loop_schedule(100, 2)
    assert len(offsets) == 200
    assert offsets[0] == 0
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(offsets)}
    assert gaps == {0.01}
    assert offsets[-1] < 2


def test_schedule_counts_fractional_rates() -> None:
    assert len(open_loop_schedule(2.5, 4)) == 10
    assert len(open_loop_schedule(0.5, 3)) == 1


@pytest.mark.parametrize(("rate", "seconds"), [(0, 1), (-1, 1), (10, 0)])
def test_schedule_refuses_non_positive(rate: float, seconds: float) -> None:
    with pytest.raises(BenchmarkError):
        open_loop_schedule(rate, seconds)


def test_parse_rates() -> None:
    assert parse_rates("50, 100,200,") == [50.0, 100.0, 200.0]
    for bad in ("", "abc", "10,-5", "nan"):
        with pytest.raises(BenchmarkError):
            parse_rates(bad)


# ----------------------------------------------------------------------- latency -----
def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(BenchmarkError):
        percentile([], 50)
    with pytest.raises(BenchmarkError):
        percentile(values, 101)


def test_latency_stats_sorts_and_handles_empty() -> None:
    stats = LatencyStats.of([30.0, 10.0, 20.0, 1000.0])
    assert stats.count == 4
    assert stats.p50_ms == 25.0
    assert stats.max_ms == 1000.0
    assert stats.mean_ms == 265.0
    empty = LatencyStats.of([])
    assert empty.count == 0 and empty.p99_ms is None


def _result(**arrivals_by_rid: list[tuple[float, str]]) -> RateResult:
    sent = {"a": 0.0, "b": 0.5, "c": 1.0, "d": 1.5}
    return summarise_rate(
        offered_rate=2.0,
        window_s=2.0,
        sent_at=sent,
        arrivals=arrivals_by_rid,
        window_start=0.0,
        window_end=2.0,
    )


def test_summarise_counts_latency_window_statuses_and_duplicates() -> None:
    r = _result(
        a=[(0.1, "ok")],
        b=[(0.7, "ok"), (0.9, "ok")],  # duplicate
        c=[(2.5, "quarantined")],  # after the window
    )
    assert r.sent == 4 and r.completed == 3 and r.missing == 1 and r.duplicates == 1
    assert r.statuses == {"ok": 2, "quarantined": 1}
    assert r.achieved_rate == 1.0  # a and b inside the 2 s window
    assert r.steady_rate == pytest.approx(1 / 1.5, abs=0.01)  # only b after the first 0.5 s
    assert r.latency.count == 3
    assert r.latency.max_ms == pytest.approx(1500.0)
    assert r.errors == 1 + 1 + 1  # quarantined, missing, duplicate
    assert not r.correct
    assert not r.sustained(p99_bound_ms=10_000)


def test_duplicate_latency_uses_first_arrival() -> None:
    r = _result(
        a=[(0.3, "ok"), (0.1, "ok")],
        b=[(0.6, "ok")],
        c=[(1.1, "ok")],
        d=[(1.6, "ok")],
    )
    assert r.latency.p50_ms == pytest.approx(100.0)
    assert r.duplicates == 1


def _rate(offered: float, steady: float, p99: float, missing: int = 0) -> RateResult:
    return RateResult(
        offered_rate=offered,
        window_s=10,
        sent=int(offered * 10),
        achieved_rate=steady,
        steady_rate=steady,
        completed=int(offered * 10) - missing,
        latency=LatencyStats(10, p99, p99, p99, p99, p99),
        statuses={"ok": int(offered * 10) - missing},
        missing=missing,
        duplicates=0,
        canary_leaks=0,
        max_send_lag_ms=0.0,
    )


def test_saturation_is_the_last_sustained_rate_before_the_first_failure() -> None:
    results = [
        _rate(50, 50, 80),
        _rate(100, 99, 120),
        _rate(200, 150, 4000),  # throughput falls behind: saturated
        _rate(300, 296, 200),  # noise after saturation does not count
    ]
    assert saturation_point(results, 250) == 100
    assert saturation_point(results[::-1], 250) == 100  # order of the list does not matter
    assert saturation_point([_rate(50, 50, 300)], 250) is None  # p99 over the bound
    assert saturation_point([_rate(50, 50, 80, missing=1)], 250) is None


def test_targets_report_met_and_unmeasured() -> None:
    results = [_rate(100, 100, 240), _rate(200, 198, 249)]
    check = Targets().check(results)
    assert check["sustained_rate_measured"] == 200 and check["sustained_rate_met"]
    assert check["p99_measured_ms"] == 240 and check["p99_met"]
    assert check["p99_bounded_rate_measured"] == 200
    missing = Targets().check([_rate(50, 50, 10)])
    assert missing["p99_met"] is None and not missing["sustained_rate_met"]


def test_sustained_rate_is_throughput_and_the_p99_bound_is_reported_apart() -> None:
    # 200/s keeps up with p99 over the bound: sustained (the bound is set at 100/s only),
    # while the latency-bounded rate stops at 100/s.
    check = Targets().check([_rate(100, 100, 180), _rate(200, 199, 600)])
    assert check["sustained_rate_measured"] == 200 and check["sustained_rate_met"]
    assert check["p99_bounded_rate_measured"] == 100
    assert check["p99_met"]
    # Falling behind at 200/s misses the target however low the latency of the rest.
    behind = Targets().check([_rate(100, 100, 180), _rate(200, 180, 3000)])
    assert behind["sustained_rate_measured"] == 100 and not behind["sustained_rate_met"]
    # A rate that kept up after one that fell behind does not count.
    noisy = Targets().check([_rate(100, 80, 900), _rate(200, 200, 200)])
    assert noisy["sustained_rate_measured"] is None and not noisy["sustained_rate_met"]


def test_result_json_has_derived_fields() -> None:
    out = _rate(100, 100, 100).to_json(250)
    assert out["sustained"] and out["correct"] and out["errors"] == 0
    json.dumps(out)  # serialisable


def test_the_table_shows_the_broker_and_the_probe_and_reads_older_results() -> None:
    result = _rate(100, 100, 100)
    result.load_avg = 1.5
    result.worker_cpu_ms_per_prompt = 12.0
    result.machine = {"broker_cpu_pct": 25.5, "vm_probe_ms": 30.25}
    new = result.to_json(250)
    old = {k: v for k, v in new.items() if k != "machine"}  # a run before the field
    head, _, row_new, row_old = markdown_table({"results": [new, old]}).splitlines()
    assert head.endswith("| broker CPU % | VM probe ms |")
    assert row_new.endswith("| 25.5 | 30.25 |")
    assert row_old.endswith("| None | None |")


# ---------------------------------------------------------------------- trace ---------
def test_segment_stats_groups_by_rate_tag_and_skips_warmup() -> None:
    rows: dict[str, list[float | None]] = {
        "r10-abc-0": [0.0, 0.01, 0.03, 0.04, 0.05, 0.06],
        "r10-abc-1": [1.0, 1.02, 1.04, None, 1.10, 1.12],
        "warmup-0": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
    }
    out = segment_stats(rows)
    assert list(out) == ["r10-abc"]
    seg = out["r10-abc"]
    assert seg["raw->detected"]["count"] == 2
    assert seg["raw->detected"]["p50_ms"] == pytest.approx(15.0)
    assert seg["deidentified->routed"]["count"] == 1
    assert seg["routed->completion"]["count"] == 1
    # A missing stamp joins its neighbours' segments: the second request was not routed.
    assert seg["deidentified->completion"]["count"] == 1
    assert seg["deidentified->completion"]["p50_ms"] == pytest.approx(60.0)


def test_segment_stats_of_chained_stages_span_the_missing_topics() -> None:
    rows: dict[str, list[float | None]] = {"r10-abc-0": [0.0, None, None, 0.05, 0.07, 0.08]}
    seg = segment_stats(rows)["r10-abc"]
    assert set(seg) == {"raw->routed", "routed->completion", "completion->consumer"}
    assert seg["raw->routed"]["p50_ms"] == pytest.approx(50.0)


# ------------------------------------------------------------------ prompts, policy ----
def test_prompts_are_deterministic_sized_and_carry_their_canaries() -> None:
    assert make_prompt(3) == make_prompt(3)
    prompts = make_prompts(60)
    assert len({p.text for p in prompts}) == 60
    for p in prompts:
        assert 300 <= len(p.text) <= 1500
        assert len(p.canaries) == 5
        assert all(c in p.text for c in p.canaries)
        assert p.text not in repr(p) and p.canaries[0] not in repr(p)


def test_canary_check_is_per_request() -> None:
    p, q = make_prompt(1), make_prompt(2)
    canaries = {"r1": p.canaries, "r2": q.canaries}

    def body(rid: str | None, text: str) -> dict[str, object]:
        return {"request_id": rid, "body": {"messages": [{"role": "user", "content": text}]}}

    clean = body("r1", "Patient [NAME], MRN [MRN].")
    own_leak = body("r1", f"call {p.canaries[3]}")
    # A surrogate that happens to equal another prompt's identifier is not a leak ...
    other = body("r1", f"call {q.canaries[3]}")
    # ... but a request we cannot attribute is checked against every identifier.
    unknown = body(None, f"call {q.canaries[3]}")
    assert canary_leaks([clean, other], canaries) == 0
    assert canary_leaks([clean, own_leak, unknown], canaries) == 2
    assert canary_leaks([{"body": {"_unparsed_bytes": 3}}], canaries) == 0


def test_policy_copy_points_local_providers_at_the_server(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write_policy(path, "http://127.0.0.1:4321/v1", max_concurrency=32)
    doc = yaml.safe_load(path.read_text())
    local = [p for p in doc["providers"] if p["kind"] == "local"]
    assert local and all(p["endpoint"] == "http://127.0.0.1:4321/v1" for p in local)
    assert all(p["rate_limits"] == {"max_concurrency": 32} for p in local)
    policy = load_policy(path)  # still a valid policy
    assert policy.tenant("analytics-b") is not None


def test_run_env_names_unique_topics(tmp_path: Path) -> None:
    env = run_env("127.0.0.1:9092", tmp_path, "abc")
    topics = [v for k, v in env.items() if k.startswith("PHI_TOPICS__")]
    assert len(set(topics)) == len(topics) == 8
    assert all("bench.abc" in t for t in topics)
    assert env["PHI_STREAMING__APP_ID"].endswith("abc")
    assert env["PHI_KEYS__KEY_FILE"].startswith(str(tmp_path))


def test_throughput_capacity_ignores_latency() -> None:
    results = [_rate(50, 50, 900), _rate(100, 99, 2000), _rate(200, 120, 9000)]
    assert saturation_point(results, 250) is None
    assert saturation_point(results, None) == 100
    assert results[1].keeps_up() and not results[2].keeps_up()


def test_process_layout_runs_the_provider_stage_in_its_own_count() -> None:
    all_stages = ("detect", "deid", "route", "provider")
    assert process_layout(2, split=False, chained=True) == [(all_stages, 2)]
    assert process_layout(2, split=True, chained=True, provider_count=1) == [
        (("detect", "deid", "route"), 2),
        (("provider",), 1),
    ]
    assert process_layout(2, split=True, chained=True) == [
        (("detect", "deid", "route"), 2),
        (("provider",), 2),
    ]
    assert process_layout(1, split=True, chained=False, provider_count=3) == [
        (("detect",), 1),
        (("deid",), 1),
        (("route",), 1),
        (("provider",), 3),
    ]


def test_provider_workers_needs_split_and_a_positive_count() -> None:
    args = parse_args(["--chain", "--split", "--workers", "2", "--provider-workers", "1"])
    assert args.provider_workers == 1
    assert parse_args(["--chain"]).provider_workers is None
    for bad in (["--provider-workers", "1"], ["--split", "--provider-workers", "0"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
