"""`python -m loadtests`: see loadtests/cli.py."""

from loadtests.cli import main

raise SystemExit(main())
