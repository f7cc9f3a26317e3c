"""What a run leaves behind and every reader reads: the run folder (``store``), its JSON schema
(``schema``), the ids that name its files (``ids``), a cell record's metrics and seed summary
(``summary``) and the content-addressed frame cache (``cache``). Below the pipeline and the analysis,
which meet only here."""
