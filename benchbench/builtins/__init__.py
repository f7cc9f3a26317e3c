"""The core's own plugins, registered through the same hooks as any installed plugin.

``hooks`` registers them (import strings, so nothing heavy loads until a run needs it):
the ``classic`` detector and the ``physics`` generator (here), the ``simulated``/``flyd``
datasets (``benchbench.data``), the executors (``benchbench.executors``) and the feature
extractors (``benchbench.analysis.genscore``); ``observers`` is the leaderboard observer.
"""
