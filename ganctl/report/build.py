"""Assemble RUN/report.html: plots (RUN/report/*.png), the sample grids over time, and a summary, all embedded as
base64 so the one file opens offline in any browser and can be mailed or archived alone."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from ganctl.diagnose.history import best_record, read_jsonl
from ganctl.engine import checkpoint as ckpt
from ganctl.engine import rundir
from ganctl.report.plots import line_plot, require_matplotlib, series

STRIP_MAX = 8  # sample grids shown in the strip, evenly spaced over the run


def _keys(stats: list[dict], *prefixes: str) -> list[str]:
    return sorted({k for r in stats for k in r if k.startswith(prefixes)})


def _plots(stats: list[dict], metrics: list[dict], out: Path) -> list[tuple[str, Path]]:
    made = []

    def add(title, name, lines, **kw):
        p = line_plot(out / f"{name}.png", title, lines, **kw)
        if p is not None:
            made.append((title, p))

    add("Losses per tick", "losses", {k: series(stats, k) for k in _keys(stats, "Loss/") if "scores" not in k}, ylabel="loss")
    add("D's scores on real and fake images", "scores",
        {k: series(stats, k) for k in _keys(stats, "Scores/", "Loss/scores/")}, ylabel="mean D output")
    for m in sorted({r["metric"] for r in metrics}):
        rs = [r for r in metrics if r["metric"] == m]
        b = best_record(rs, m)
        best = None if b is None else (b["kimg"], b["value"], f"best {m} at kimg {b['kimg']:.3f}")
        add(f"{m.upper()} vs kimg (N={rs[-1].get('num')}, {rs[-1].get('protocol')})", f"metric-{m}",
            {m: ([r["kimg"] for r in rs], [r["value"] for r in rs])}, ylabel=m, best=best)
    add("Augmentation probability p", "augment", {k: series(stats, k) for k in _keys(stats, "Augment/")}, ylabel="p")
    add("Learning rates", "lr", {k: series(stats, k) for k in ("Schedule/lr_g", "Schedule/lr_d")}, ylabel="lr")
    add("Resolution and fade-in alpha", "schedule", {k: series(stats, k) for k in ("Schedule/resolution", "Schedule/alpha")})
    add("Privacy spent", "privacy", {"epsilon": series(stats, "Privacy/epsilon")}, ylabel="epsilon")
    add("Timing", "timing", {k: series(stats, k) for k in ("Timing/sec_per_kimg",)}, ylabel="seconds per kimg")
    method = next((r["Energy/method"] for r in reversed(stats) if r.get("Energy/method")), "")
    add(f"Energy, run total ({method})", "energy", {k: series(stats, k) for k in ("Energy/kwh",)}, ylabel="kWh")
    return made


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _strip(run: Path) -> list[tuple[str, Path]]:
    grids = sorted(run.glob("fakes-*.png"))
    if len(grids) > STRIP_MAX:
        step = (len(grids) - 1) / (STRIP_MAX - 1)
        grids = [grids[round(i * step)] for i in range(STRIP_MAX)]
    out = []
    for g in grids:
        m = re.match(r"fakes-(\d+)\.png", g.name)
        out.append((f"kimg {int(m.group(1))}" if m else g.stem, g))
    return out


def summarize(run: Path, cfg: dict, stats: list[dict], metrics: list[dict]) -> dict:
    last = stats[-1] if stats else {}
    ckpt_dir = run / rundir.CHECKPOINTS
    s = {"run": str(run), "preset": cfg.get("preset"), "family": cfg["model"]["family"], "loss": cfg["loss"]["type"],
         "kimg": last.get("Progress/kimg", 0.0), "target_kimg": cfg["train"]["kimg"], "ticks": len(stats),
         "train_seconds": last.get("Timing/total_sec"), "sec_per_kimg": last.get("Timing/sec_per_kimg"),
         "latest_losses": {k: v for k, v in last.items() if k.startswith("Loss/") and "/scores/" not in k},
         "energy_kwh": last.get("Energy/kwh"), "co2_kg": last.get("Energy/co2_kg"), "energy_method": last.get("Energy/method"),
         "latest_checkpoint": str(ckpt.latest_checkpoint(ckpt_dir) or ""), "best_checkpoint": str(ckpt.best_checkpoint(ckpt_dir) or ""),
         "metrics": {}}
    if "Privacy/epsilon" in last:
        s["privacy"] = {"epsilon": last["Privacy/epsilon"], "delta": last.get("Privacy/delta"),
                        "budget": (cfg.get("privacy") or {}).get("epsilon"), "dp_steps": last.get("Privacy/dp_steps")}
    for m in sorted({r["metric"] for r in metrics}):
        rs = [r for r in metrics if r["metric"] == m]
        b = best_record(rs, m)
        s["metrics"][m] = {"latest": rs[-1]["value"], "latest_kimg": rs[-1]["kimg"], "evaluations": len(rs),
                           "best": None if b is None else b["value"], "best_kimg": None if b is None else b["kimg"]}
    return s


def summary_text(s: dict) -> str:
    lines = [f"{s['run']}: {s['family']} / {s['loss']}, {s['kimg']:.3f} of {s['target_kimg']:g} kimg in {s['ticks']} ticks"
             + (f", {s['train_seconds']:.0f} s ({s['sec_per_kimg']:.2f} s/kimg)" if s["train_seconds"] is not None else "")]
    if s.get("energy_kwh") is not None:
        lines.append(f"energy: {s['energy_kwh']:.6g} kWh, {s['co2_kg']:.6g} kg CO2e ({s['energy_method']})")
    if s["latest_losses"]:
        lines.append("latest losses: " + ", ".join(f"{k[5:]} {v:.4g}" for k, v in sorted(s["latest_losses"].items())))
    if s.get("privacy"):
        p = s["privacy"]
        lines.append(f"differential privacy: epsilon {p['epsilon']:.3f} spent (delta {p['delta']:g}"
                     + (f", budget {p['budget']:g}" if p["budget"] is not None else "") + f") after {p['dp_steps']} D steps")
    for m, v in s["metrics"].items():
        lines.append(f"{m}: latest {v['latest']:.4g} at kimg {v['latest_kimg']:.3f}; best {v['best']:.4g} at kimg {v['best_kimg']:.3f} "
                     f"({v['evaluations']} evaluations)")
    if s["best_checkpoint"]:
        lines.append(f"best checkpoint: {s['best_checkpoint']}")
    lines.append(f"latest checkpoint: {s['latest_checkpoint'] or 'none'}")
    return "\n".join(lines)


def _html(s: dict, text: str, plots, strip, reals: Path | None) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>ganctl report: " + e(Path(s["run"]).name) + "</title>",
             "<style>body{font-family:sans-serif;margin:24px;background:#fff;color:#222}pre{background:#f4f4f4;padding:12px}"
             ".plots img{max-width:100%;display:block;margin:8px 0 20px}.strip{display:flex;gap:8px;overflow-x:auto}"
             ".strip figure{margin:0}.strip img{height:180px;image-rendering:pixelated}figcaption{text-align:center;font-size:12px}"
             "</style></head><body>",
             f"<h1>ganctl report: {e(Path(s['run']).name)}</h1>", f"<pre>{e(text)}</pre>", "<h2>Plots</h2><div class='plots'>"]
    for title, p in plots:
        parts.append(f"<h3>{e(title)}</h3><img class='plot' alt='{e(title)}' src='{_data_uri(p)}'>")
    parts.append("</div>")
    if strip:
        parts.append("<h2>Samples over time (fixed seeds)</h2><div class='strip'>")
        if reals is not None:
            parts.append(f"<figure><img alt='reals' src='{_data_uri(reals)}'><figcaption>real images</figcaption></figure>")
        for cap, g in strip:
            parts.append(f"<figure><img alt='{e(cap)}' src='{_data_uri(g)}'><figcaption>{e(cap)}</figcaption></figure>")
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(run_dir: str, out: str | None = None) -> dict:
    """Write the plots and report.html; return the summary with the paths written."""
    require_matplotlib()  # before any work: one clear line when the extra is missing
    run = Path(run_dir)
    cfg = rundir.read_config(run)
    stats, metrics = read_jsonl(run / rundir.STATS), read_jsonl(run / rundir.METRICS)
    plot_dir = run / "report"
    plots = _plots(stats, metrics, plot_dir)
    s = summarize(run, cfg, stats, metrics)
    text = summary_text(s)
    reals = run / "reals.png"
    html_path = Path(out) if out else run / "report.html"
    tmp = html_path.with_name(html_path.name + ".tmp")
    tmp.write_text(_html(s, text, plots, _strip(run), reals if reals.is_file() else None))
    tmp.replace(html_path)
    return {**s, "html": str(html_path), "plots": [str(p) for _, p in plots], "summary_text": text}
