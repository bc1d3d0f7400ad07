"""Presenting end-to-end benchmark results: a PNG plot and a markdown table."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(report: dict[str, Any], path: Path) -> None:
    """Latency percentiles and achieved throughput against offered load, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["results"]
    offered = [r["offered_rate"] for r in rows]
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, style in (("p50_ms", "o-"), ("p95_ms", "s-"), ("p99_ms", "^-"), ("max_ms", "x:")):
        values = [r["latency"][key] for r in rows]
        lat.plot(offered, values, style, label=key.removesuffix("_ms"))
    targets = report["targets"]
    lat.axhline(targets["p99_target_ms"], color="red", lw=0.8, ls="--", label="p99 target")
    lat.set(xlabel="offered load (prompts/s)", ylabel="produce -> completion (ms)", yscale="log")
    lat.legend()
    lat.grid(True, which="both", alpha=0.3)
    top = max([*offered, targets["sustained_rate_target"]])
    thr.plot([0, top], [0, top], color="grey", lw=0.8, ls=":", label="achieved = offered")
    thr.plot(offered, [r["steady_rate"] for r in rows], "o-", label="achieved (steady)")
    thr.plot(offered, [r["achieved_rate"] for r in rows], ".--", label="achieved (whole window)")
    thr.axvline(targets["sustained_rate_target"], color="red", lw=0.8, ls="--", label="target")
    thr.set(xlabel="offered load (prompts/s)", ylabel="completions/s in window")
    thr.legend()
    thr.grid(True, alpha=0.3)
    cfg, machine = report["config"], report["machine"]
    interp = machine.get("interpreter") or {}
    python = f", Python {interp['version']} ({interp['libpython']} libpython)" if interp else ""
    fig.suptitle(
        f"phi-pipeline end to end: {cfg['detection_profile']} profile, {cfg['workers']} x "
        f"{cfg['layout']}, {machine['cpus']} CPUs, load avg {machine['load_avg_start']:.1f}"
        f"{python}"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown_table(report: dict[str, Any]) -> str:
    """Return the per-rate results as a markdown table (for the README and reports)."""
    head = (
        "| offered/s | steady/s | window/s | p50 ms | p95 ms | p99 ms | max ms | ok | errors "
        "| leaks | worker CPU ms/prompt | worker CPU % | peak RSS MiB | load avg "
        "| broker CPU % | VM probe ms |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = [head]
    for r in report["results"]:
        lat = r["latency"]
        cpu = "+".join(f"{w['cpu_pct']:g}" for w in r["workers"])
        rss = "+".join(f"{w['peak_rss_mib']:g}" for w in r["workers"])
        machine = r.get("machine") or {}
        rows.append(
            f"| {r['offered_rate']:g} | {r['steady_rate']:g} | {r['achieved_rate']:g} "
            f"| {lat['p50_ms']} | {lat['p95_ms']} | {lat['p99_ms']} | {lat['max_ms']} "
            f"| {r['statuses'].get('ok', 0)} | {r['errors']} | {r['canary_leaks']} "
            f"| {r['worker_cpu_ms_per_prompt']} | {cpu} | {rss} | {r['load_avg']} "
            f"| {machine.get('broker_cpu_pct')} | {machine.get('vm_probe_ms')} |"
        )
    return "\n".join(rows)
