"""Prompt templates: one template for every class, filled with the class's name and wnid."""

from __future__ import annotations

from string import Formatter

from ximagenet12.classes import ClassInfo
from ximagenet12.errors import XImageNet12Error

DEFAULT_PROMPT = "a photograph of a {name} in its usual surroundings, realistic, natural light, detailed background"
DEFAULT_NEGATIVE_PROMPT = "text, watermark, logo, frame, border, collage, cartoon, drawing, blurry, low quality"
PLACEHOLDERS = ("name", "wnid")


def check_template(template: str, option: str = "--prompt") -> str:
    """The template itself when its only placeholders are {name} and {wnid}; else a one-line error."""
    try:
        fields = [field for _, field, _, _ in Formatter().parse(template) if field is not None]
    except ValueError as exc:
        raise XImageNet12Error(f"{option}: not a template ({exc}); write literal braces as {{{{ and }}}}") from None
    unknown = sorted({f for f in fields if f not in PLACEHOLDERS})
    if unknown:
        names = ", ".join("{" + f + "}" for f in unknown)
        raise XImageNet12Error(f"{option}: unknown placeholder {names}; use {{name}} or {{wnid}}")
    return template


def fill(template: str, info: ClassInfo) -> str:
    """The template with {name} and {wnid} replaced by the class's."""
    return template.format(name=info.name, wnid=info.wnid)
