"""The low-risk oversight sample (policy 11): which review periods of a sampled case are reviewed.

A draw is a number from 0.00 to 99.99 made from a hash of the case's CRN, the review period (the
date the review falls due) and the area's seed; the period is picked when the draw is below the
rate the decision table `oversight_frequency` gives (its `sample_rate`, a percentage). The same CRN,
period and seed always give the same draw, so anyone can see why a case was, or was not, picked.
"""

from __future__ import annotations

import hashlib
from datetime import date

# The area's seed for the draw: kept on each draw the register records, so the draw can be made again.
SAMPLE_SEED = "riskflow oversight sample"
DRAW_SCALE = 10_000  # draws are kept in hundredths: 0 to 9999 read 0.00 to 99.99


def sample_draw(crn: str, period: date, seed: str = SAMPLE_SEED) -> int:
    """The draw for a case's review period, in hundredths (0 to 9999): the same for the same inputs."""
    digest = hashlib.sha256(f"{seed}|{crn.strip().upper()}|{period.isoformat()}".encode()).hexdigest()
    return int(digest[:12], 16) % DRAW_SCALE


def is_picked(draw: int, rate_percent: int) -> bool:
    """Whether a draw is in a sample of `rate_percent` per cent: below the threshold."""
    return draw < rate_percent * DRAW_SCALE // 100


def in_words(draw: int) -> str:
    """A draw as people read it: 7.25, 57.31."""
    return f"{draw / 100:.2f}"
