"""Judge the generators: fidelity and diversity scores, memorisation, and whether they predict the gain.

Importing this package is cheap (numpy only); torch-based feature extractors import torch lazily.
"""
