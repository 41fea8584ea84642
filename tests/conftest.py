"""Fixtures shared by tests in every folder."""

import binder_env
import pytest


@pytest.fixture(scope="session")
def binder_environment(tmp_path_factory) -> binder_env.BinderEnvironment:
    """The environment repo2docker would build from binder/ (built once per test process)."""
    return binder_env.build(tmp_path_factory.mktemp("binder"))
