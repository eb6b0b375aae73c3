"""Conditioning failure: generated images that do not look like their requested class.

Protocol. The dataset's own classifier (ganctl.metrics.classifier: a small CNN trained by ganctl on the run's labelled
training images, cached per dataset) labels N generated images, seeds 0..N-1 with class seed % classes (the per-seed
rule of every command). Class accuracy = share of images whose predicted class is the requested one, overall and
per class. It is judged against the classifier's class-balanced accuracy on held-out real images (mean per-class
accuracy: the best a generator asked for every class equally often can score under this classifier; the plain
accuracy would weigh an unbalanced set's common classes more on the real side only): ratio = generated / real.
The issue's target for a conditional preset is 0.8 of the real
accuracy; below SEVERE_RATIO the generator largely ignores its class (an untrained or class-blind generator scores
chance, 1/classes). The worst classes are named by their generated accuracy.

Limits: the classifier's own errors cap the ratio's meaning (a class the classifier confuses on real images is
confused on perfect samples too: the per-class real accuracy is in the evidence); N/classes samples per class give
a per-class accuracy with a standard error up to 0.5/sqrt(N/classes).
"""

from __future__ import annotations

import math

from ganctl.diagnose.findings import Finding

SEVERE_RATIO, WARN_RATIO = 0.5, 0.8
WORST_SHOWN = 3
ADVICE = ["train longer: class accuracy usually rises after the images themselves look right",
          "for small presets with many classes, widen G and D (model.ch / model.g_channels) or raise the embedding size",
          "check the labels of the training data (`ganctl prepare-data` report) and that model.conditional=true was trained on them"]


def _name(c: int, names) -> str:
    return f"{c} ({names[c]})" if c < len(names) else str(c)


def conditioning_findings(gen_acc: float, gen_per_class: list[float], real_acc: float, real_per_class: list[float], *,
                          num: int, label_names=(), held_out: str = "held-out real images") -> list[Finding]:
    k = len(gen_per_class)
    ratio = gen_acc / real_acc if real_acc > 0 else 0.0
    measured = [c for c in range(k) if not math.isnan(gen_per_class[c])]
    worst = sorted(measured, key=lambda c: gen_per_class[c])[:WORST_SHOWN]
    ev = {"class_acc": gen_acc, "real_class_acc": real_acc, "ratio": ratio, "chance": 1 / k if k else 0.0, "num": num,
          "held_out": held_out, "worst_classes": [_name(c, label_names) for c in worst],
          "per_class": {str(c): {"generated": round(gen_per_class[c], 4),
                                 "real": None if math.isnan(real_per_class[c]) else round(real_per_class[c], 4)} for c in measured}}
    sev = "severe" if ratio < SEVERE_RATIO else "warning" if ratio < WARN_RATIO else "ok"
    worst_txt = ", ".join(f"{_name(c, label_names)} {100 * gen_per_class[c]:.0f}%" for c in worst)
    summary = (f"class accuracy of generated images {100 * gen_acc:.1f}% vs {100 * real_acc:.1f}% on {held_out} "
               f"({ratio:.2f}x; chance {100 / max(k, 1):.1f}%, N={num}); worst classes: {worst_txt}")
    if sev == "severe":
        summary = "generator ignores the requested class: " + summary
    elif sev == "warning":
        summary = "weak class conditioning: " + summary
    return [Finding("conditioning", "info" if sev == "ok" else sev, summary, ev, ADVICE if sev != "ok" else [])]
