"""Data: FLYD loaders (flyd), groups from file names (groups), leakage-free splits (split), exporters
(export), the physics simulator (simulate), dataset validation (check) and the FLYD-S download (fetch).
Import the submodules directly; this package imports nothing heavy."""
