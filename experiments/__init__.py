"""The studies as configs and thin scripts, and the ``ethogram`` command line."""
