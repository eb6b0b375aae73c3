"""`ganctl audit bias`: how generated images are distributed over the real data's labels, at several truncations.

A classifier (the fixed one of metrics/cas_classifier.py trained on the labelled real data, or the user's --classifier)
labels N generated images (seeds 0..N-1); their label histogram is compared with the reference distribution: the real
data's own labels when the classifier uses them, else the classifier's predictions on the real data. Histograms use
bincount(minlength=K), so a class the generator dropped counts as 0 (the fairness-discrepancy code of Choi et al. 2020
drops absent classes, which hides exactly the failure looked for). Reported per truncation psi, since truncation is
known to amplify imbalance (Maluleke et al. 2022): L1, L2 (Choi et al.'s fairness discrepancy), KL(generated || real),
the per-class shares and the classes missing. For a conditional generator the images are requested class by class
(label = seed % K), and the share of each class's images the classifier assigns to the requested class is reported.
"""

from __future__ import annotations

import numpy as np

from ganctl.errors import UsageError


def histogram(labels: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(labels, minlength=k)[:k].astype(np.float64) / max(len(labels), 1)


def divergences(p: np.ndarray, ref: np.ndarray) -> dict:
    """L1, L2 and KL(p || ref) of two distributions over the same K classes (KL is inf if p puts mass where ref has
    none; classes p lacks add 0 to it and show in L1/L2 and `missing`)."""
    nz = p > 0
    kl = float(np.sum(p[nz] * np.log(p[nz] / ref[nz]))) if np.all(ref[nz] > 0) else float("inf")
    return {"l1": float(np.abs(p - ref).sum()), "l2": float(np.sqrt(((p - ref) ** 2).sum())), "kl": kl}


def audit_bias(source: str, data: str, classifier: str | None = None, truncations=(1.0, 0.7, 0.5), num: int = 2000,
               epochs: int = 5, seed: int = 0, train_num: int = 10000, save_classifier: str | None = None,
               device: str = "cpu", emit=lambda e: None) -> dict:
    from ganctl.data.dataset import PreparedDataset
    from ganctl.device import resolve_device
    from ganctl.metrics.cas_classifier import load_classifier, train_classifier
    from ganctl.sampling.generate import load_generator

    if num < 1 or not truncations or any(not 0 <= t <= 1 for t in truncations):
        raise UsageError("--num must be >= 1 and every --truncation value in [0, 1], e.g. --truncation 1.0,0.7,0.5")
    real = PreparedDataset(data)
    idx = np.sort(np.random.default_rng(seed).permutation(len(real))[:train_num])
    real_x, real_y = real.get_batch(idx)
    if classifier:
        clf = load_classifier(classifier)
        clf.check_images(real_x, f"--data {data}")
        labelled = real.num_classes == clf.num_classes and (real_y >= 0).all()
        ref = histogram(real_y, clf.num_classes) if labelled else histogram(clf.predict(real_x), clf.num_classes)
        ref_kind = "real labels" if labelled else "classifier's predictions on the real data"
        clf_desc = str(classifier)
    else:
        if not real.num_classes or (real_y < 0).any():
            raise UsageError(f"--data {data}: has no class labels; give labelled data (class subfolders, MNIST/CIFAR) "
                             f"or a --classifier FILE")
        emit({"type": "message", "text": f"training the classifier on {len(real_x)} real images"})
        clf = train_classifier(real_x, real_y, real.num_classes, seed, epochs, real.label_names)
        if save_classifier:
            clf.save(save_classifier)
        ref = histogram(real_y, real.num_classes)
        ref_kind = "real labels"
        clf_desc = f"trained on {len(real_x)} images of {data} ({epochs} epochs, seed {seed})"
    k = clf.num_classes
    names = clf.label_names or real.label_names or [str(i) for i in range(k)]
    gen = load_generator(source, resolve_device(device))
    seeds = list(range(num))
    out = {"generator": str(gen.path), "data": str(data), "classifier": clf_desc, "classes": k, "label_names": names,
           "num": num, "reference": ref_kind, "reference_share": ref.tolist(), "truncations": []}
    if gen.num_classes and gen.num_classes != k:
        raise UsageError(f"--classifier: has {k} classes, the conditional generator {gen.num_classes}; use a classifier "
                         f"over the same labels or omit --classifier")
    for psi in truncations:
        imgs = np.concatenate([b.numpy() for b in gen.iter_images(seeds, psi, None, 256)])
        clf.check_images(imgs, "generated images")
        pred = clf.predict(imgs)
        share = histogram(pred, k)
        rec = {"truncation_psi": psi, "share": share.tolist(), **divergences(share, ref),
               "missing": [names[i] for i in range(k) if share[i] == 0]}
        if gen.num_classes:
            requested = np.array([s % gen.num_classes for s in seeds])
            rec["requested_class_share"] = [float((pred[requested == c] == c).mean()) if (requested == c).any() else None
                                            for c in range(k)]
            rec["requested_class_share_mean"] = float((pred == requested).mean())
        out["truncations"].append(rec)
    return out
