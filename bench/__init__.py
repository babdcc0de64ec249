"""Benchmarks of the Kaizala Bridge (`make bench`); not part of `make test`. See bench/README.md."""
