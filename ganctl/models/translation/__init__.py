"""pix2pix and CycleGAN: image-to-image networks (networks.py); the families come with the image-conditioned contract."""
