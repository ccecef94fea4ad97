"""The `evenheat` command line: `main.py` dispatches, one module per subcommand beside it."""
