"""Reading and validation: every file's verdict, from the cache or from the read workers
(screen, read with python-calamine, legacy fonts, validate), then the range and rule checks of
the form (the great_expectations suite) over the new verdicts."""
