"""`python -m telemed` runs the command line."""

from telemed.cli import main

raise SystemExit(main())
