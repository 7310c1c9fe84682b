"""sealed_secrets: the Sealed Secrets controller, with its keys restored first on a rebuild.

Not available in this version: see stages/_unavailable.py.
"""

from __future__ import annotations

from bootstrap.config import Profile
from stages._unavailable import NotYetAvailable


class SealedSecrets(NotYetAvailable):
    name = "sealed_secrets"
    needs = ("cluster",)
    switch = "components.sealed_secrets.enabled"

    def is_enabled(self, profile: Profile) -> bool:
        p = profile
        return bool(p.components.sealed_secrets.enabled)
