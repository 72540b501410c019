"""One module per ``ethogram`` subcommand (see ``experiments.cli``)."""
