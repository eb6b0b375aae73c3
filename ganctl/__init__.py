"""ganctl: a toolkit for the whole life of a generative adversarial network.

`import ganctl` is kept cheap: it imports no torch and compiles nothing. The library API lives in
`ganctl.api` (one function per CLI command); subpackages own data, models, losses, the training engine,
sampling, metrics and ops.
"""

__version__ = "0.1.0"
