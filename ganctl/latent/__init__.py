"""Latent-space tools shared by the CLI and the explorer: edit directions (this package's `directions` module), and
the projector, direction finders, edits and videos built on them. Style families expose `G.mapping(z, c, ...)` ->
ws (N, num_ws, w_dim) and `G.synthesis(ws, ...)` -> images; these tools only use that seam."""
