"""`ganctl serve` (an HTTP API for pipelines) and `ganctl explore` (a local web page): thin layers over a loaded
generator, like the CLI. One Flask app serves both, run by waitress (a bounded pool of HTTP threads); all generation
goes through one bounded worker (worker.py), so a flood of requests queues or is refused instead of starving the page.
"""
