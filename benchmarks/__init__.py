"""Benchmarks of medtranslate against a plain CycleGAN reference loop timed in the same run (``python -m benchmarks``).

Not part of the installed package and never imported by it; see ``docs/performance.md`` for the results.
"""
