"""ganctl.report: `ganctl report RUN`, a reader of a run directory that draws it.

  plots   matplotlib (Agg) figures from stats.jsonl / metrics.jsonl, one PNG each
  build   the PNGs, the fakes-*.png strip and a summary assembled into one self-contained report.html

matplotlib is an optional extra (`pip install 'ganctl[report]'`); without it the command says so in one line.
"""
