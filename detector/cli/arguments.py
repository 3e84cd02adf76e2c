"""Argument types the commands share: checked when parsed, with a one-line reason."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(high: int, low: int = 1) -> Callable[[str], int]:
    """An argparse type for a whole number in ``low..high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low}..{high}, got {value}")
        return value

    return parse
