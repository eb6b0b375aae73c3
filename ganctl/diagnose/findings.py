"""A diagnosis finding: which check, how bad, what the run's numbers say, and what to try."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SEVERITIES = ("ok", "info", "warning", "severe")


@dataclass
class Finding:
    check: str                # mode-collapse, d-overfitting, conditioning, instability, non-finite, gp-blowup, metric-regression
    severity: str             # one of SEVERITIES
    summary: str              # one sentence, numbers included
    evidence: dict = field(default_factory=dict)  # the numbers from the run the summary rests on
    advice: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} not in {SEVERITIES}")

    @property
    def severe(self) -> bool:
        return self.severity == "severe"

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        return f"[{self.severity}] {self.check}: {self.summary}"

    def text(self) -> str:
        out = [self.line()]
        out += [f"    advice: {a}" for a in self.advice]
        return "\n".join(out)


def worst(findings: list[Finding]) -> str:
    return max((f.severity for f in findings), key=SEVERITIES.index, default="ok")
