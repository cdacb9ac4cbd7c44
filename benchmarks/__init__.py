"""Performance targets live here, not in unit tests: `make bench` prints figures and ratios."""
