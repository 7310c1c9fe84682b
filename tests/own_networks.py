"""Networks of a namespace the tests made themselves and run inside (the Docker tier's bridges,
which have no route out). The loopback guard (tests/conftest.py) lets a test reach these too;
the Docker tier's conftest fills the list after checking the namespace has no default route."""

from __future__ import annotations

import ipaddress

OWN_NETWORKS: list[ipaddress.IPv4Network] = []
