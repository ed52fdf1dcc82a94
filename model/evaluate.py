"""`python -m model.evaluate`: the command lives in model/cli/evaluate.py."""

from model.cli.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
