"""The command-line tools. Each is thin over library functions that the tests call directly; `python -m model.NAME` reaches them through model/NAME.py (model/lab/__main__.py for the lab)."""
