"""Benchmarks and studies of the service, one module each (index: bench/README.md).

A package so that every bench runs as a module from the repository root (`python -m bench.serve`):
`app`, `model`, `training` and `bench.common` then import from this checkout without patching sys.path.
"""
