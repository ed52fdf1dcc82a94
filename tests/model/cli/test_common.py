"""Every command's flags carry help text (the house rule), read through model.cli.common.parser_flags."""

from __future__ import annotations

import argparse
import importlib

import pytest

from model.cli.common import parser_flags

COMMANDS = ("analyze", "context", "evaluate", "lab", "memory_units", "predict", "train", "transplant", "weight_storage")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_of_every_command_has_help(command):
    parser = importlib.import_module(f"model.cli.{command}").build_parser()
    flags = parser_flags(parser)
    assert flags, command
    for action in flags:
        assert action.help and action.help.strip() and action.help != argparse.SUPPRESS, (command, action.dest)
    text = parser.format_help()
    assert all(option in text for action in flags for option in action.option_strings)
