"""Compile a Triton kernel for real GPUs on a machine without one: what the interpreter
cannot check.

The interpreter runs a kernel as Python, so code that only the compiler rejects
(a non-constexpr where a constexpr is needed, an unsupported conversion on an
older GPU) passes there. ``compile_for_gpus`` lowers the kernel to a cubin for a
T4 (sm_75) and an H100 (sm_90) with Triton's bundled ptxas, in a fresh process
without TRITON_INTERPRET, and returns one line per target.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent("""
    import importlib, inspect, sys
    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    module, name = sys.argv[1], sys.argv[2]
    types, constexprs, capabilities, options = map(eval, sys.argv[3:])
    fn = getattr(importlib.import_module(module), name)
    params = list(inspect.signature(fn.fn).parameters)
    signature = {p: "constexpr" if p in constexprs else types[p] for p in params}
    constexprs = {(params.index(p),): v for p, v in constexprs.items()}
    source = ASTSource(fn=fn, signature=signature, constexprs=constexprs)
    for capability in capabilities:
        target = GPUTarget("cuda", capability, 32)
        compiled = triton.compile(source, target=target, options=options)
        print(f"sm_{capability}: {len(compiled.asm['cubin'])} bytes of cubin, "
              f"{compiled.metadata.shared} bytes of shared memory")
""")


def compile_for_gpus(
    module: str,
    kernel: str,
    types: dict[str, str],
    constexprs: str,
    capabilities: tuple[int, ...] = (75, 90),
    options: dict | None = None,
) -> list[str]:
    """Compile ``module.kernel`` with argument ``types`` (e.g.
    ``{"x_ptr": "*fp16", "n": "i32"}``) and ``constexprs`` (Python source of a dict,
    e.g. ``"{'BLOCK': 32, 'ACC': tl.float32}"``) and compiler ``options``
    (4 warps when None); one line per target, ending with the shared memory a program
    needs."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PROGRAM,
            module,
            kernel,
            repr(types),
            constexprs,
            repr(capabilities),
            repr(options or {"num_warps": 4}),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if result.returncode != 0:
        raise AssertionError(f"{kernel} does not compile:\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()
