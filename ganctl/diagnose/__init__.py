"""ganctl.diagnose: judging a run from what it left in its directory (stats, metrics, checkpoints, dataset).

  findings   the Finding record (check, severity, summary, evidence, advice) and its text/JSON forms
  diversity  mode collapse: pairwise feature distances and near-duplicate pairs, overall and per class
  conditioning  class accuracy of generated images under the dataset's own classifier vs held-out real images
  history    instability and divergence in stats.jsonl / metrics.jsonl; which way each metric improves
  overfit    discriminator overfitting: E[sign(D(real))] and the train vs held-out accuracy gap
  run        `ganctl diagnose RUN`: loads the run, extracts features, runs every check

A reader of a run directory: it uses ganctl.engine.checkpoint (loading) and nothing else from the engine, so the
engine can call the pure checks (diversity, history) during training for its live warnings.
"""
