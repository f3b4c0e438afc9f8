"""How the program runs: the one process pool (workers with limits), progress bars and stage
timings, and the test-only fault points."""
