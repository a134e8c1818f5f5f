"""Shared test setup: no test may open a network connection; Triton kernels run in the interpreter on the CPU."""
import os
import socket

import pytest
import torch

# Triton reads TRITON_INTERPRET when a kernel is defined, so it is set here, before any
# test module imports a kernel. With a CUDA GPU the kernels run on it instead (set
# TRITON_INTERPRET=1 yourself to interpret them there too).
if "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"
# Kernels fill their outputs with NaN first, so an element a kernel never writes fails the comparison
# (rnncourse.ops.backend.output_buffer).
os.environ.setdefault("RNNCOURSE_CHECK_OUTPUTS", "1")


@pytest.fixture
def no_network(monkeypatch):
    """Make any attempt to connect fail loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
