"""Rendering engine events for people: a Rich progress bar on a terminal, one plain line per tick otherwise.

On a terminal the bar moves with every `step` event (images seen, kimg/s, ETA), not only at tick ends; in plain mode
(CI logs, pipes) step events are dropped so a log stays one line per tick. Everything goes to stderr; stdout is kept
for results (a path, a number, JSON).
"""

from __future__ import annotations

import json
import sys


def _fmt_tick(e: dict) -> str:
    parts = [f"tick {e['Progress/tick']:<4d}", f"kimg {e['Progress/kimg']:<8.3f}", f"sec/kimg {e['Timing/sec_per_kimg']:<7.2f}",
             f"img/s {e['Timing/images_per_sec']:<7.1f}"]
    for key in sorted(k for k in e if k.startswith("Loss/")):
        parts.append(f"{key[5:]} {e[key]:.4f}")
    return "  ".join(parts)


class EventRenderer:
    def __init__(self, quiet: bool = False, stream=None):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self._progress = None
        self._task = None

    def __call__(self, e: dict) -> None:
        kind = e["type"]
        if kind == "start" and self.tty and not self.quiet:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
            from rich.console import Console

            self._progress = Progress(TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed:.2f}/{task.total:.2f} kimg"),
                                      TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                      console=Console(file=self.stream))
            self._progress.start()
            self._task = self._progress.add_task("train", total=e["total_kimg"], completed=e["kimg"], info="", rate="")
            return
        if kind == "step":  # every training step: only the live bar uses it; plain logs stay one line per tick
            if self._progress is not None:
                self._progress.update(self._task, completed=e["kimg"], total=e.get("total_kimg"),
                                      rate=f"{e['kimg'] * 1000:,.0f} img  {e['images_per_sec'] / 1000:.2f} kimg/s")
            return

        if kind == "tick":
            line = _fmt_tick(e)
            if self._progress is not None:
                self._progress.update(self._task, completed=e["Progress/kimg"], info=line.split("img/s")[1][:60] if "img/s" in line else "")
                self._progress.console.print(line)
            elif not self.quiet:
                print(line, file=self.stream, flush=True)
            return
        if kind == "done" and self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self.quiet:
            return
        msg = {
            "run_dir": lambda: f"run directory: {e['path']}",
            "start": lambda: f"training on {e['device']} ({e.get('precision', 'fp32')}) from kimg {e['kimg']:.3f} to {e['total_kimg']:.3f}",
            "resumed": lambda: f"resumed from {e['path']} at kimg {e['kimg']:.3f}",
            "checkpoint": lambda: f"checkpoint: {e['path']}",
            "grid": lambda: f"samples: {e['path']}",
            "message": lambda: e["text"],
            "warning": lambda: f"warning: {e['text']}",
            "metrics": lambda: "metrics at kimg " + f"{e['kimg']:.3f}: " + ", ".join(
                f"{r['metric']} {r['value']:.4g}" for r in e["records"]) + ("  (best so far)" if e.get("best") else ""),
            "done": lambda: f"done at kimg {e['kimg']:.3f}: {e['run_dir']}",
        }.get(kind)
        text = msg() if msg else json.dumps(e)
        if self._progress is not None:
            self._progress.console.print(text)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
