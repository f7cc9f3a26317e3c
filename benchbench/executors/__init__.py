"""Executors run the planner's jobs: locally, on Ray, or on SLURM through submitit."""
