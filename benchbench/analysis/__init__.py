"""What reads finished run folders: the statistics (``stats``, ``inference``), `bench rescore`, the
leaderboard, the report and the generator scores (``genscore``). It depends on the pipeline's outputs
(``benchbench.records``), never on the pipeline."""
