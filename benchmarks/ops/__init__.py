"""One module per op, each defining ``OP`` (a :class:`benchmarks.registry.Op`)."""
