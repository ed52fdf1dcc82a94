"""`python -m model.lab`: the command lives in model/cli/lab.py."""

from model.cli.lab import main

raise SystemExit(main())
