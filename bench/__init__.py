"""The benchmarks (`make bench`): outside the package, they measure it."""
