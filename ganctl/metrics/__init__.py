"""ganctl.metrics: FID, IS and KID with the reference tools' numbers (pytorch-fid, torch-fidelity).

  inception  the FID Inception-v3 detector and safe weight loading     weights    finding / downloading the weights file
  protocols  preprocessing (resize + normalisation) per reference tool  sources    input kinds -> uint8 RGB batches
  features   extraction loop (workers, device, torchrun sharding)      stats      streaming float64 mean/cov, .npz files
  distance   Frechet distance (eigenvalue route), IS, KID               compute    end-to-end fid / inception_score / kid

Importing this package imports nothing heavy; use `ganctl.metrics.compute` for the end-to-end functions.
"""
