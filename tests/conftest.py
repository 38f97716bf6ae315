"""Shared test settings: hypothesis profiles.

`make test` runs the `ci` profile (more examples); set HYPOTHESIS_PROFILE=dev for quick loops.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
