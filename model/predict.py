"""`python -m model.predict`: the command lives in model/cli/predict.py."""

from model.cli.predict import main

if __name__ == "__main__":
    raise SystemExit(main())
