"""`learn2ask COMMAND --help` states each option's default once, and only where there is one."""

from __future__ import annotations

import re

from learn2ask.cli import build_parser, discover_commands


def help_texts() -> dict[str, str]:
    """Every subcommand's --help text, with its line wrapping undone."""
    parser = build_parser(discover_commands())
    commands = next(a for a in parser._actions if a.dest == "command").choices
    return {name: " ".join(sub.format_help().split()) for name, sub in commands.items()}


def test_no_option_states_its_default_twice_or_a_default_of_none():
    texts = help_texts()
    assert {"prepare", "evaluate", "serve", "train"} <= texts.keys()
    for name, text in texts.items():
        assert not re.search(r"\(default: [^()]*\) \(default:", text), name
        assert "(default: None)" not in text and "(default: False)" not in text, name
    # Defaults that exist are still shown.
    assert "(default: 2.0)" in texts["grade"] and "(default: hierarchical)" in texts["grade"]
