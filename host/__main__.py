"""`python -m host` is the same as the `evenheat` command."""

from host.cli.main import main

raise SystemExit(main())
