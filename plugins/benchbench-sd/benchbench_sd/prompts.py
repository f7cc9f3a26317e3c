"""The seed paper's prompts (torch-free, so the CLI and the tiny tokenizer can use them)."""

from __future__ import annotations

SANE_PROMPT = ("An infrared thermal frame from the laser scan recording of a metallic part, "
               "without surface crack.")
CRACK_PROMPT = ("An infrared thermal frame from the laser scan recording of a metallic part, "
                "presenting a surface crack.")
# DreamBooth instance prompt of the positive generator in the seed.
INSTANCE_PROMPT = ("An infrared thermal frame from the laser scan recording of a metallic part, "
                   "with a surface crack.")
# A generic class prompt for prior preservation (images of the class without the instance).
CLASS_PROMPT = "An infrared thermal frame from the laser scan recording of a metallic part."

ALL_PROMPTS = (SANE_PROMPT, CRACK_PROMPT, INSTANCE_PROMPT, CLASS_PROMPT)
