"""What `bench run` executes: the planner (matrix -> cells and what each waits for), the runner (the
driver), the jobs a worker runs, generator calibration, the generated sets read back for the scores,
and the observers. It writes run folders through ``benchbench.records``; nothing in the analysis
imports it."""
