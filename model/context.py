"""`python -m model.context`: the command lives in model/cli/context.py."""

from model.cli.context import main

if __name__ == "__main__":
    raise SystemExit(main())
