"""Parsing of seed and index lists such as `0-63`, `1,5,9` and `0-3,7`, shared by every command that takes seeds."""

from __future__ import annotations

from ganctl.errors import UsageError


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """`0-3,7` -> [0, 1, 2, 3, 7]. Order is kept; ranges are inclusive; negative numbers are refused."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                lo_s, hi_s = part.split("-", 1)
                lo, hi = int(lo_s), int(hi_s)
                if hi < lo:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise UsageError(f"{flag} {text!r}: expected a list like 0-63, 1,5,9 or 0-3,7") from None
    if not out:
        raise UsageError(f"{flag} {text!r}: no seeds given; expected a list like 0-63, 1,5,9 or 0-3,7")
    if any(s < 0 or s >= 2**32 for s in out):
        raise UsageError(f"{flag} {text!r}: seeds must be in 0..4294967295")
    return out
