"""metallb: MetalLB (native mode, address pool from the profile or the Docker network).

Not available in this version: see stages/_unavailable.py.
"""

from __future__ import annotations

from bootstrap.config import Profile
from stages._unavailable import NotYetAvailable


class MetalLB(NotYetAvailable):
    name = "metallb"
    needs = ("cluster",)
    switch = "components.metallb.enabled"

    def is_enabled(self, profile: Profile) -> bool:
        p = profile
        return bool(p.components.metallb.enabled)
