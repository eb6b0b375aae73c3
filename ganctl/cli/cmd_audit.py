"""`ganctl cas`, `ganctl audit privacy`, `ganctl audit bias`: what synthetic data is worth and what it leaks or skews
(thin: parse, call ganctl.api, print). Numbers/JSON to stdout, progress to stderr."""

from __future__ import annotations

import json
from typing import Optional

import typer


def _progress(event: dict) -> None:
    if event.get("type") == "message":
        typer.echo(event["text"], err=True)


def _truncations(text: str) -> list[float]:
    from ganctl.errors import UsageError

    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        vals = []
    if not vals:
        raise UsageError(f"--truncation {text!r}: give psi values separated by commas, e.g. 1.0,0.7,0.5")
    return vals


def register(app: typer.Typer) -> None:
    @app.command("cas", help="Classification accuracy score: a fixed small classifier trained on N generated labelled "
                 "images, tested on real held-out images, next to the same classifier trained on N real images.\n\n"
                 "Example: ganctl cas runs/cgan-fashion-mnist/00000-fmnist32-32-b64 --real-test data/fmnist32-test --num 10000")
    def cas(
        source: str = typer.Argument(..., help="A conditional run, checkpoint, or a labelled (e.g. exported) dataset."),
        real_test: str = typer.Option(..., "--real-test", help="Real held-out labelled images (a prepared dataset)."),
        num: int = typer.Option(10000, "--num", help="Generated (and real) training images for the classifier."),
        real_train: Optional[str] = typer.Option(None, "--real-train", help="Real images for the baseline classifier "
                                                 "(default: the run's training data, when it is still there)."),
        epochs: int = typer.Option(5, "--epochs", help="Classifier epochs (the same for both)."),
        seed: int = typer.Option(0, "--seed"),
        truncation: float = typer.Option(1.0, "--truncation"),
        device: str = typer.Option("auto", "--device"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        from ganctl import api

        r = api.cas(source, real_test, num, real_train, epochs, seed, truncation, device, emit=_progress)
        if as_json:
            print(json.dumps(r, indent=1))
        else:
            print(f"cas {r['cas']:.4f}")
            if "real_accuracy" in r:
                print(f"real_accuracy {r['real_accuracy']:.4f}")
                print(f"ratio {r['ratio']:.4f}")

    audit = typer.Typer(help="Audits of a trained generator: membership inference (privacy) and label bias (bias).",
                        no_args_is_help=True)
    app.add_typer(audit, name="audit")

    @audit.command("privacy", help="Membership inference: can an attacker tell the run's training images from images "
                   "it never saw? Full black-box (distance to the nearest generated image, GAN-Leaks) and white-box "
                   "(D's score, LOGAN): ROC AUC with a bootstrap 95% interval and TPR at 1%/0.1% FPR, plus nearest's "
                   "near-copy findings. AUC ~0.5: no measurable leakage; well above: the model reveals its members.\n\n"
                   "Example: ganctl audit privacy runs/dp-cgan-fashion-mnist/00000-fmnist32-32-b64 --train data/fmnist32 "
                   "--heldout data/fmnist32-test")
    def privacy(
        source: str = typer.Argument(..., help="Run, checkpoint, or a prepared dataset of generated images (black-box only)."),
        train: str = typer.Option(..., "--train", help="The run's training data (members)."),
        heldout: str = typer.Option(..., "--heldout", help="Images of the same kind the run never saw (non-members)."),
        num: int = typer.Option(2000, "--num", help="Generated images the black-box attack searches."),
        candidates: int = typer.Option(500, "--candidates", help="Members and non-members drawn (each)."),
        bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the AUC interval."),
        seed: int = typer.Option(0, "--seed"),
        truncation: float = typer.Option(1.0, "--truncation"),
        device: str = typer.Option("auto", "--device"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        from ganctl import api

        r = api.audit_privacy(source, train, heldout, num_generated=num, candidates=candidates, bootstrap=bootstrap,
                              seed=seed, truncation_psi=truncation, device=device, emit=_progress)
        if as_json:
            print(json.dumps(r, indent=1))
            return
        for name, a in r["attacks"].items():
            if a is None:
                typer.echo(r.get("white_box_note", f"{name}: skipped"), err=True)
                continue
            lo, hi = a["auc_ci95"]
            print(f"{name} auc {a['auc']:.4f} ci95 [{lo:.4f}, {hi:.4f}] tpr@1%fpr {a['tpr_at_fpr_0.01']:.4f} "
                  f"tpr@0.1%fpr {a['tpr_at_fpr_0.001']:.4f}  ({a['verdict']})")
        n = r["nearest"]
        print(f"nearest near_copies {n['near_copies']} of {n['checked']}")

    @audit.command("bias", help="Label distribution of generated images vs the real data: per-class share, L1, L2 and "
                   "KL at each truncation (absent classes count), from a classifier trained on the labelled real data "
                   "or --classifier; conditional models also get the share of each class's images classified as the "
                   "requested class.\n\n"
                   "Example: ganctl audit bias runs/cgan-fashion-mnist/00000-fmnist32-32-b64 --data data/fmnist32 "
                   "--truncation 1.0,0.7,0.5")
    def bias(
        source: str = typer.Argument(..., help="Run or checkpoint."),
        data: str = typer.Option(..., "--data", help="Real labelled data (the reference distribution)."),
        classifier: Optional[str] = typer.Option(None, "--classifier", help="A classifier file saved by "
                                                 "--save-classifier (default: train one on --data)."),
        truncation: str = typer.Option("1.0,0.7,0.5", "--truncation", help="Truncation psi values, comma-separated."),
        num: int = typer.Option(2000, "--num", help="Generated images per truncation."),
        epochs: int = typer.Option(5, "--epochs", help="Epochs of the classifier trained here."),
        seed: int = typer.Option(0, "--seed"),
        save_classifier: Optional[str] = typer.Option(None, "--save-classifier", help="Keep the trained classifier "
                                                      "(safetensors) for later --classifier runs."),
        device: str = typer.Option("auto", "--device"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        from ganctl import api

        r = api.audit_bias(source, data, classifier=classifier, truncations=_truncations(truncation), num=num,
                           epochs=epochs, seed=seed, save_classifier=save_classifier, device=device, emit=_progress)
        if as_json:
            print(json.dumps(r, indent=1))
            return
        names = r["label_names"]
        print("psi    l1      l2      kl      " + " ".join(f"{n[:8]:>8}" for n in names))
        print("real   " + " " * 24 + " ".join(f"{v:8.3f}" for v in r["reference_share"]))
        for t in r["truncations"]:
            print(f"{t['truncation_psi']:<6g} {t['l1']:.4f}  {t['l2']:.4f}  {t['kl']:.4f}  "
                  + " ".join(f"{v:8.3f}" for v in t["share"]))
            if "requested_class_share" in t:
                print("  requested class kept: " + " ".join(f"{v:8.3f}" if v is not None else "     n/a"
                                                            for v in t["requested_class_share"]))
