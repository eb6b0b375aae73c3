"""Audits of trained generators: membership inference (membership.py) and label bias (bias.py).

Readers of checkpoints, generated images and datasets only: nothing here imports the engine's training internals.
"""
