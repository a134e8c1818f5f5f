"""Shared test setup: no test may open a network connection."""
import socket

import pytest


@pytest.fixture
def no_network(monkeypatch):
    """Make any attempt to connect fail loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
