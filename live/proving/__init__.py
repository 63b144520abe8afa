"""Proving the product: the benchmark, the soak test and its faults, the GPU report. May import
anything of live (it drives the show and the backends); nothing imports it but the CLI."""
