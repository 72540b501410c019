"""What the ``no_ray`` fixture (tests/conftest.py) raises, importable by the tests that expect it."""


class RayStarted(AssertionError):
    """Raised by ``no_ray`` instead of starting Ray: the check under test should have refused first."""
