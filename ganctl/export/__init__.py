"""Writing trained generators in formats other runtimes read (ONNX), so they run without PyTorch."""
