"""The W-space commands of the library API (`ganctl directions`, `edit`, `project`, `video`, `sample --projected-w`):
find edit directions, move seeds or projected ws along them, project images into W and render latent walks. The
functions are re-exported by ganctl.api under the same names; the CLI calls them there."""

from __future__ import annotations

from pathlib import Path

from ganctl.emit import Emit, no_events
from ganctl.errors import UsageError


def _projected_or_seed_ws(gen, seeds, projected_w, truncation_psi, class_idx):
    """ws for `--seeds` or `--projected-w FILE` (exactly one), and a label for provenance."""
    from ganctl.latent.wspace import load_projected_w, ws_for_seeds

    if (seeds is None) == (projected_w is None):
        raise UsageError("give either --seeds or --projected-w FILE")
    if projected_w is not None:
        return load_projected_w(projected_w, gen.G.num_ws, gen.G.w_dim).to(gen.device), f"projected {Path(projected_w).name}"
    from ganctl.sampling.provenance import seed_list

    return ws_for_seeds(gen, list(seeds), truncation_psi, class_idx), seed_list(seeds)


def directions(source: str | None, method: str = "sefa", out: str = "dirs.npz", layers=None, num: int | None = None,
               num_samples: int = 50_000, components: int = 80, scores: str | None = None, ratio: float = 0.02,
               split: float = 0.7, seed: int = 0, name: str = "boundary", device: str = "auto") -> dict:
    """`ganctl directions`: find edit directions in W (SeFa, GANSpace or a labelled boundary) and write dirs.npz."""
    from ganctl.latent import finders
    from ganctl.latent.directions import METHODS, save_directions
    from ganctl.latent.wspace import check_layers, require_w_space
    from ganctl.metrics.weights import sha256_file
    from ganctl.sampling.generate import load_generator

    if method not in METHODS:
        raise UsageError(f"--method {method!r}: use one of {', '.join(METHODS)}")
    if method == "boundary" and scores is None:
        raise UsageError("--method boundary needs --scores FILE.csv (rows `seed,score` or `seed,0|1`)")
    gen = load_generator(source, device)
    require_w_space(gen, "ganctl directions")
    layers = check_layers(layers, gen.G.num_ws)
    if method == "sefa":
        d = finders.sefa(gen.G, layers, num)
    elif method == "ganspace":
        d = finders.ganspace(gen, num_samples, components, layers, seed)
    else:
        d = finders.boundary(gen, scores, ratio, split, seed, name, layers)
    d.meta.update(network=gen.path.name, network_sha256=sha256_file(gen.path), num_ws=gen.G.num_ws, w_dim=gen.G.w_dim)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_directions(d, out)
    summary = {k: d.meta[k] for k in ("validation_accuracy", "train_accuracy", "train", "validation") if k in d.meta}
    return {"out": str(out), "method": method, "count": len(d), "names": d.names[:10], "checkpoint": str(gen.path),
            **summary}


def edit(source: str | None, direction: str, seeds=None, projected_w: str | None = None, strength: str = "-3:3",
         steps: int = 7, layers=None, out: str = "edit.png", truncation_psi: float = 1.0, class_idx: int | None = None,
         fps: int = 24, device: str = "auto", provenance: bool = True, output=None) -> dict:
    """`ganctl edit`: move seeds' or projected ws along direction FILE:K; a grid (.png: rows = inputs, columns =
    strengths) or a walk (.mp4/.gif/folder: one frame per strength)."""
    import torch

    from ganctl.latent.directions import load_directions
    from ganctl.latent.edit import edit_images, parse_strengths
    from ganctl.latent.wspace import check_layers, require_w_space
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.grid import make_grid, save_png
    from ganctl.sampling.interpolate import write_frames
    from ganctl.sampling.provenance import for_network

    file, _, key = str(direction).rpartition(":")
    if not file or not key:
        file, key = direction, "0"
    d = load_directions(file)
    k = d.index(key)
    strengths = parse_strengths(strength, steps)
    gen = load_generator(source, device)
    require_w_space(gen, "ganctl edit")
    layers = check_layers(layers, gen.G.num_ws)
    ws, label = _projected_or_seed_ws(gen, seeds, projected_w, truncation_psi, class_idx)
    imgs = edit_images(gen.G, ws, d, k, strengths, layers)  # (N, S, C, H, W)
    prov = for_network(gen.path, kind="edit", seeds=f"{label}; {d.names[k]} x {strength}",
                       truncation_psi=truncation_psi, output=output) if provenance else None
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if Path(out).suffix.lower() == ".png":
        files = [str(save_png(make_grid(imgs.reshape(-1, *imgs.shape[2:]), cols=len(strengths)), out, prov))]
    else:
        n, s, c, h, w = imgs.shape  # frame f: the inputs side by side under strength f
        frames = imgs.permute(1, 2, 3, 0, 4).reshape(s, c, h, n * w)
        files = write_frames(torch.as_tensor(frames), out, fps=fps, provenance=prov)
    return {"checkpoint": str(gen.path), "direction": d.names[k], "strengths": strengths, "inputs": int(ws.shape[0]),
            "files": files}


def project(source: str | None, targets: list, outdir: str = "proj", steps: int = 1000, space: str = "w",
            start_w: str | None = None, seed: int = 0, loss: str = "lpips", save_video: bool = False,
            weights: str | None = None, lpips_weights: str | None = None, class_idx: int | None = None,
            device: str = "auto", emit: Emit = no_events, provenance: bool = True, output=None,
            noise: str = "optimise") -> dict:
    """`ganctl project`: NVlabs' projector (ganctl/latent/projector.py) for one or more target images. Writes
    projected_w.npz, proj.png, target.png (and proj.mp4) into OUT, or OUT/NN-STEM/ for several targets."""
    import numpy as np
    import torch

    from ganctl.latent import projector as P
    from ganctl.latent.wspace import load_projected_w, require_w_space, save_projected_w
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.grid import save_png
    from ganctl.sampling.interpolate import write_frames
    from ganctl.sampling.latents import to_uint8
    from ganctl.sampling.provenance import for_network

    if not targets:
        raise UsageError("ganctl project: give at least one target image")
    cfg = P.ProjectorConfig(steps=steps, space=space, loss=loss, seed=seed, noise=noise)
    cfg.check()
    gen = load_generator(source, device)
    require_w_space(gen, "ganctl project")
    G = gen.G
    res, ch = G.img_resolution, G.img_channels
    log = lambda msg: emit({"type": "log", "message": msg})  # noqa: E731
    arrs = [P.load_target(t, res, ch, log) for t in targets]
    tgt = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).to(gen.device)
    lp = None
    if loss == "lpips" or lpips_weights or weights:
        from ganctl.metrics.lpips import build_lpips, lin_weights_path
        from ganctl.metrics.weights import VGG16, resolve_weights

        lp = build_lpips(resolve_weights(weights, VGG16), lin_weights_path(lpips_weights), gen.device)
    start = load_projected_w(start_w, G.num_ws, G.w_dim) if start_w else None
    if start is not None and start.shape[0] not in (1, len(targets)):
        raise UsageError(f"--start-w {start_w}: holds {start.shape[0]} w for {len(targets)} targets; give 1 or one each")
    c = None
    if gen.num_classes:
        gen._check_class(class_idx)
        if class_idx is None:
            raise UsageError("--class: this generator is conditional; say which class the targets are")
        c = torch.full((len(targets),), int(class_idx), dtype=torch.int64, device=gen.device)
    log(f"projecting {len(targets)} target(s) into {gen.path.name}: {steps} steps, space {space}, loss {loss}, "
        f"noise {noise}, device {gen.device}")
    result = P.project(G, tgt, cfg, lp, start, c, keep_steps=save_video,
                       progress=lambda e: emit({"type": "step", **e}))
    w = result["w"]
    with torch.no_grad():
        synth = to_uint8(G.synthesis(w, noise_mode="const")).cpu()
    metrics = P.image_metrics(synth.to(gen.device), tgt, lp)
    out = Path(outdir)
    prov = for_network(gen.path, kind="projection", noise_mode="const", output=output) if provenance else None
    records = []
    for i, t in enumerate(targets):
        d = out if len(targets) == 1 else out / f"{i:02d}-{Path(t).stem}"
        d.mkdir(parents=True, exist_ok=True)
        save_projected_w(w[i:i + 1], d / "projected_w.npz")
        save_png(synth[i].permute(1, 2, 0).numpy(), d / "proj.png", prov)
        save_png(tgt[i].cpu().permute(1, 2, 0).numpy(), d / "target.png", None)  # the user's image, not generated
        files = [str(d / n) for n in ("projected_w.npz", "proj.png", "target.png")]
        if save_video:
            steps_w = result["w_steps"][:, i]
            frames = []
            with torch.no_grad():
                for j in range(0, len(steps_w), 16):
                    frames.append(to_uint8(G.synthesis(steps_w[j:j + 16].to(gen.device), noise_mode="const")).cpu())
            frames = torch.cat(frames)
            both = torch.cat([tgt[i].cpu().unsqueeze(0).expand(len(frames), -1, -1, -1), frames], dim=3)
            files += write_frames(both, d / "proj.mp4", fps=10, provenance=prov.with_(kind="frames") if prov else None)
        records.append({"target": str(t), "outdir": str(d), "files": files, **metrics[i]})
    return {"checkpoint": str(gen.path), "steps": steps, "space": space, "loss": loss, "noise": noise,
            "device": str(gen.device), "targets": records}


def video(source: str | None, seeds=None, projected_w: list | None = None, grid: str = "1x1", w_frames: int = 120,
          keyframes: int | None = None, out: str = "video.mp4", fps: int = 60, truncation_psi: float = 1.0,
          class_idx: int | None = None, device: str = "auto", provenance: bool = True, output=None) -> dict:
    """`ganctl video`: NVlabs gen_video loops (ganctl/latent/video.py) from seeds, or from projected w files."""
    import torch

    from ganctl.latent import video as V
    from ganctl.latent.wspace import load_projected_w, require_w_space
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.interpolate import write_frames
    from ganctl.sampling.latents import split_truncation
    from ganctl.sampling.provenance import for_network, seed_list

    try:
        grid_w, grid_h = (int(v) for v in str(grid).lower().split("x"))
        assert grid_w >= 1 and grid_h >= 1
    except (ValueError, AssertionError):
        raise UsageError(f"--grid {grid!r}: expected COLSxROWS, e.g. 4x2") from None
    if (seeds is None) == (not projected_w):
        raise UsageError("give either --seeds or --projected-w FILE (one or more)")
    gen = load_generator(source, device)
    if projected_w:
        require_w_space(gen, "--projected-w")
        ws = torch.cat([load_projected_w(p, gen.G.num_ws, gen.G.w_dim) for p in projected_w])
        cells = grid_w * grid_h
        nk = keyframes or len(ws) // cells
        if nk < 1:
            raise UsageError(f"--projected-w: {len(ws)} w fill fewer than one keyframe of a {grid_w}x{grid_h} grid")
        idx = [i % len(ws) for i in range(nk * cells)]
        keys, space, classes, label = ws[idx].reshape(cells, nk, *ws.shape[1:]), "w", None, "projected w"
        psi = 1.0
    else:
        keys, space, classes, all_seeds = V.seed_keys(gen, list(seeds), grid_w, grid_h, keyframes, truncation_psi,
                                                      class_idx)
        label, psi = seed_list(all_seeds), split_truncation(gen.truncation, truncation_psi)[1]
    frames = torch.stack(list(V.video_frames(gen, keys, grid_w, grid_h, w_frames, space, classes, psi)))
    prov = for_network(gen.path, kind="frames", seeds=label, truncation_psi=truncation_psi,
                       noise_mode="const", output=output) if provenance else None
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    files = write_frames(frames, out, fps=fps, provenance=prov)
    return {"checkpoint": str(gen.path), "frames": int(frames.shape[0]), "keyframes": int(keys.shape[1]),
            "space": space, "files": files}


def sample_projected(source: str | None, projected_w: str, outdir: str = "samples", grid: bool = False,
                     noise_mode: str = "const", device: str = "auto", provenance: bool = True, output=None) -> dict:
    """`ganctl sample --projected-w FILE`: the images of the ws in NVlabs' projected_w.npz (proj00.png, ...);
    `output` (sampling/output.OutputPolicy) as for `sample`."""
    import torch

    from ganctl.latent.wspace import load_projected_w, require_w_space
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.grid import make_grid, save_png
    from ganctl.sampling.latents import to_uint8
    from ganctl.sampling.provenance import for_network

    gen = load_generator(source, device)
    require_w_space(gen, "--projected-w")
    ws = load_projected_w(projected_w, gen.G.num_ws, gen.G.w_dim).to(gen.device)
    with torch.no_grad():
        imgs = torch.cat([to_uint8(gen.G.synthesis(ws[i:i + 16], noise_mode=noise_mode)).cpu()
                          for i in range(0, len(ws), 16)])
    prov = for_network(gen.path, kind="image", seeds=f"projected {Path(projected_w).name}",
                       noise_mode=noise_mode, output=output) if provenance else None
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    if grid:
        files = [str(save_png(make_grid(imgs), out / "grid.png", prov.with_(kind="grid") if prov else None))]
    else:
        files = [str(save_png(img.permute(1, 2, 0).numpy(), out / f"proj{i:02d}.png", prov)) for i, img in enumerate(imgs)]
    return {"checkpoint": str(gen.path), "files": files, "count": len(files) if not grid else int(len(ws))}
