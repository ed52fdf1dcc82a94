"""`python -m model.transplant`: the command lives in model/cli/transplant.py."""

from model.cli.transplant import main

if __name__ == "__main__":
    raise SystemExit(main())
