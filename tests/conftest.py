"""Shared test setup: figures drawn without a display; no test may open a network
connection; Triton kernels run in the interpreter on the CPU."""

import json
import os
import socket

import matplotlib

matplotlib.use("Agg")  # no display: set once here, before any test imports pyplot

import pytest  # noqa: E402
import torch  # noqa: E402

# Triton reads TRITON_INTERPRET when a kernel is defined, so it is set here, before any
# test module imports a kernel. With a CUDA GPU the kernels run on it instead (set
# TRITON_INTERPRET=1 yourself to interpret them there too).
if "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"
# Kernels fill their outputs with NaN first, so an element a kernel never writes fails
# the comparison (rnncourse.ops.backend.output_buffer).
os.environ.setdefault("RNNCOURSE_CHECK_OUTPUTS", "1")


@pytest.fixture
def no_network(monkeypatch):
    """Make any attempt to connect fail loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def arena_results():
    """Two made-up models in the arena's JSON layout (string keys, as json.loads
    gives them)."""

    def row(acc, bpc, speed, cache):
        return {
            "params": {"text": 1000},
            "recall": {"accuracy": dict(zip(["2", "4", "8"], acc))},
            "copy": {"accuracy": 0.5},
            "text": {"bpc": bpc, "tokens_per_s": speed},
            "inference": {
                str(c): {"seconds_per_token": 1e-3 * c, "state_bytes": cache(c)}
                for c in (16, 256)
            },
        }

    models = {
        "transformer": row([1.0, 1.0, 0.9], 2.0, 4000.0, lambda c: 100 * c),
        "lstm": row([0.9, 0.4, 0.1], 2.5, 1000.0, lambda c: 800),
    }
    return json.loads(json.dumps({"budget": {"pairs": [2, 4, 8]}, "models": models}))
