"""`python -m model.weight_storage`: the command lives in model/cli/weight_storage.py."""

from model.cli.weight_storage import main

if __name__ == "__main__":
    raise SystemExit(main())
