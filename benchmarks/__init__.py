"""Benchmarks of every op in ``rnncourse.ops``: ``python -m benchmarks.run``
(or ``make bench``).

Each op has a module in ``benchmarks/ops/`` that defines ``OP``, a
:class:`benchmarks.registry.Op` (its implementations, sizes, inputs and the bytes
and FLOPs one call must move and compute); ``run`` finds them all, times every
implementation at every size on the current device and writes the results to
``benchmarks/results/``.
"""
