"""Shared test settings: hypothesis profiles.

`make test` runs the `ci` profile (more examples); set HYPOTHESIS_PROFILE=dev for quick loops.
The risk-gate property has its own example count per profile: `tests/support/profiles.py`.
"""

from hypothesis import HealthCheck, settings

from tests.support.profiles import PROFILE

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(PROFILE)
