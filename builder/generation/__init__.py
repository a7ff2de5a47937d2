"""AI-generated backgrounds for `ai_bg`: diffusion inpainting around each source's object, with records.

`read_generation_records` is what the build reads; `generate_backgrounds` (torch and diffusers, from
the `generate` extra, imported only when a model is loaded) is what `ximagenet12 generate-backgrounds` runs.
"""

from .records import RECORDS_NAME, image_name, read_generation_records
from .run import GenerationOptions, GenerationReport, check_options, generate_backgrounds

__all__ = [
    "RECORDS_NAME",
    "GenerationOptions",
    "GenerationReport",
    "check_options",
    "generate_backgrounds",
    "image_name",
    "read_generation_records",
]
