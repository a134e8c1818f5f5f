"""Fixtures of the checker tests."""

import pytest
import torch

# the assertions of the shared tests say what they compared, as a test module's do
pytest.register_assert_rewrite(f"{__package__}._helpers")


@pytest.fixture(scope="module")
def one_thread():
    """The exercises' tensors are tiny: a second thread only waits for the first, and
    on a busy machine for far longer. (A module that wants it says so with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``.)"""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
