"""The benchmark's method, shared by the pipeline that runs it and the analysis that scores it again:
the matrix (what to run), evaluation and learning curves (how a cell's predictions are scored), the
teacher (how synthetic frames get their boxes) and the generator-score settings (``scores``)."""
