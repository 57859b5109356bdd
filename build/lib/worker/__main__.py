"""`python -m worker` is the same as the `incident-worker` command."""

from worker.cli import main

raise SystemExit(main())
