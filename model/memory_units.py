"""`python -m model.memory_units`: the command lives in model/cli/memory_units.py."""

from model.cli.memory_units import main

if __name__ == "__main__":
    raise SystemExit(main())
