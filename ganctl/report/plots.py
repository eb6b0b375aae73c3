"""Plots of a run's history: one PNG per subject, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path

from ganctl.errors import UsageError


def require_matplotlib():
    """pyplot on the Agg backend, or one clear line on how to get it."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError("ganctl report needs matplotlib: pip install 'ganctl[report]' (or pip install matplotlib)") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def series(stats: list[dict], key: str) -> tuple[list[float], list[float]]:
    pts = [(r["Progress/kimg"], r[key]) for r in stats if isinstance(r.get(key), (int, float)) and "Progress/kimg" in r]
    return [p[0] for p in pts], [p[1] for p in pts]


def line_plot(path: Path, title: str, lines: dict[str, tuple[list, list]], ylabel: str = "", best: tuple | None = None,
              xlabel: str = "kimg") -> Path | None:
    """One figure with a line per entry; `best` = (x, y, label) is marked with a star. None when there is nothing to draw."""
    lines = {k: v for k, v in lines.items() if v[0]}
    if not lines:
        return None
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    for label, (x, y) in lines.items():
        ax.plot(x, y, marker="o" if len(x) < 30 else None, markersize=3, linewidth=1.4, label=label)
    if best is not None:
        ax.scatter([best[0]], [best[1]], s=180, marker="*", color="crimson", zorder=5, label=best[2])
        ax.annotate(f"{best[1]:.4g}", (best[0], best[1]), textcoords="offset points", xytext=(8, 8), color="crimson")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
