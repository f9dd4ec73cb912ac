"""The hypothesis budget for `make test`: fixed example counts, no deadline (a shared CI
machine is slow at random), and no example database written into the working tree.
`HYPOTHESIS_PROFILE=thorough` runs more examples by hand."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples every run: a red CI is reproducible
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=500, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
