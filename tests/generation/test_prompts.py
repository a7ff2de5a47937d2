"""Prompt templates filled per class."""

from __future__ import annotations

import pytest
from ximagenet12_builder.generation.prompts import DEFAULT_NEGATIVE_PROMPT, DEFAULT_PROMPT, check_template, fill

from ximagenet12.classes import BY_WNID
from ximagenet12.errors import XImageNet12Error


def test_the_template_is_filled_with_the_class_name_and_wnid() -> None:
    assert fill("a {name} ({wnid}) by a lake", BY_WNID["n02119022"]) == "a red fox (n02119022) by a lake"
    assert fill("no placeholder", BY_WNID["n02992211"]) == "no placeholder"


def test_the_default_templates_name_the_class() -> None:
    assert check_template(DEFAULT_PROMPT) == DEFAULT_PROMPT
    assert "cello" in fill(DEFAULT_PROMPT, BY_WNID["n02992211"])
    assert check_template(DEFAULT_NEGATIVE_PROMPT, "--negative-prompt") == DEFAULT_NEGATIVE_PROMPT


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a {label} on grass", r"^--prompt: unknown placeholder \{label\}; use \{name\} or \{wnid\}$"),
        ("a {0}", r"^--prompt: unknown placeholder \{0\}"),
        ("a {name", r"^--prompt: not a template \(.*\); write literal braces as \{\{ and \}\}$"),
    ],
)
def test_a_bad_template_is_one_line_naming_the_option(template: str, message: str) -> None:
    with pytest.raises(XImageNet12Error, match=message):
        check_template(template)
