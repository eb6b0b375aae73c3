"""Sampling: per-seed latents, loading a generator from a run or checkpoint, grids, interpolation and video/GIF writers."""
