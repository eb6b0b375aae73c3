"""ganctl.metrics: FID, IS, KID, precision/recall and PPL with the reference tools' numbers, and the memorisation check.

  inception  the FID Inception-v3 detector and safe weight loading     weights    finding / downloading the weights file
  protocols  preprocessing (resize + normalisation) per reference tool  sources    input kinds -> uint8 RGB batches
  features   extraction loop (workers, device, torchrun sharding)      stats      streaming float64 mean/cov, .npz files
  distance   Frechet distance (eigenvalue route), IS, KID               compute    end-to-end fid / inception_score / kid
  vgg16      the VGG16 detector (fc2_relu, LPIPS taps)                  manifold   k-NN precision/recall, density/coverage
  prc        end-to-end `ganctl pr`                                     lpips      LPIPS v0.1 distance on the VGG16 trunk
  ppl        perceptual path length (NVlabs' protocol)                  nearest    memorisation check (nearest training images)

Importing this package imports nothing heavy; use `ganctl.metrics.compute` for the end-to-end functions.
"""
