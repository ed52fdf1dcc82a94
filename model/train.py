"""`python -m model.train`: the command lives in model/cli/train.py."""

from model.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
