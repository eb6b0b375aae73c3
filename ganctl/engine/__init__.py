"""The training engine: run directory, checkpoints (save/load/verify), data feed, EMA and the training loop.
The engine never prints: it emits events that the CLI renders."""
