"""`python -m model.analyze`: the command lives in model/cli/analyze.py."""

from model.cli.analyze import main

if __name__ == "__main__":
    raise SystemExit(main())
