"""The question types Kaizala documents for surveys and jobs, defined once.

A domain term (what a sales team may ask), used by the action request models and by the
Kaizala adapter's wire models alike.
"""

from __future__ import annotations

from typing import Literal

QuestionType = Literal[
    "SingleOption",
    "MultiOption",
    "Text",
    "Image",
    "Numeric",
    "Date",
    "DateTime",
    "Location",
    "AttachmentList",
]
