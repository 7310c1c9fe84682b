"""Kubeconfig files as plain dicts: find the user's, merge, pick one context, rename it, read its
API URL, and keep the profile's private copy (mode 0600) in step with what a tool prints.

Renaming is structural (context, and the cluster and user only it uses), never a text replace.
"""

from __future__ import annotations

import copy
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from bootstrap import secrets, yaml_guard

Doc = dict[str, Any]
SECTIONS = ("clusters", "users", "contexts")


class KubeconfigError(ValueError):
    """A kubeconfig is not YAML, not a Config, or lacks what was asked for."""


def parse(text: str, *, source: str) -> Doc:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise KubeconfigError(f"{source} is not valid YAML {yaml_guard.described(err)}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("contexts", []), list):
        raise KubeconfigError(f"{source} is not a kubeconfig (no `contexts` list)")
    return doc


def dump(doc: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(doc), sort_keys=False)


def context_names(doc: Mapping[str, Any]) -> list[str]:
    return [str(entry.get("name")) for entry in doc.get("contexts") or []]


def user_files(explicit: str | None, *, env: Mapping[str, str] | None = None) -> list[Path]:
    """The files kubectl would read: ``explicit``, else every entry of $KUBECONFIG, else
    ~/.kube/config."""
    env = os.environ if env is None else env
    if explicit:
        return [Path(explicit).expanduser()]
    listed = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return [Path(p).expanduser() for p in listed]
    return [Path.home() / ".kube" / "config"]


def merge(docs: Iterable[Mapping[str, Any]]) -> Doc:
    """kubectl's rule: for every name, the first file that defines it wins."""
    merged: Doc = {"apiVersion": "v1", "kind": "Config"}
    for doc in docs:
        for section in SECTIONS:
            entries = merged.setdefault(section, [])
            known = {entry.get("name") for entry in entries}
            entries += [e for e in doc.get(section) or [] if e.get("name") not in known]
        if "current-context" not in merged and doc.get("current-context"):
            merged["current-context"] = doc["current-context"]
    return merged


def extract(doc: Mapping[str, Any], context: str) -> Doc:
    """A self-contained kubeconfig holding only ``context``, its cluster and its user."""
    ctx = _named(doc, "contexts", context)
    if ctx is None:
        found = ", ".join(context_names(doc)) or "none"
        raise KubeconfigError(f"no context {context!r} (contexts: {found})")
    body = ctx.get("context") or {}
    cluster = _named(doc, "clusters", str(body.get("cluster")))
    user = _named(doc, "users", str(body.get("user")))
    if cluster is None:
        raise KubeconfigError(f"context {context!r} names cluster {body.get('cluster')!r}, "
                              "which is not defined")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [copy.deepcopy(cluster)],
        "users": [copy.deepcopy(user)] if user is not None else [],
        "contexts": [copy.deepcopy(ctx)],
        "current-context": context,
    }


def rename_context(doc: Mapping[str, Any], old: str, new: str) -> Doc:
    """Rename context ``old`` to ``new``; its cluster and user too when no other context uses
    them (a tool's `default`/`k3d-x` names never leak into the profile's file)."""
    out = copy.deepcopy(dict(doc))
    ctx = _named(out, "contexts", old)
    if ctx is None:
        raise KubeconfigError(f"no context {old!r} to rename (contexts: "
                              f"{', '.join(context_names(out)) or 'none'})")
    body = ctx.setdefault("context", {})
    others = [c.get("context") or {} for c in out.get("contexts") or [] if c is not ctx]
    for section, key in (("clusters", "cluster"), ("users", "user")):
        name = body.get(key)
        entry = _named(out, section, str(name))
        if entry is not None and all(o.get(key) != name for o in others):
            entry["name"] = body[key] = new
    ctx["name"] = new
    if out.get("current-context") == old:
        out["current-context"] = new
    return out


def api_url_of(doc: Mapping[str, Any], context: str | None = None) -> str:
    name = context or doc.get("current-context")
    ctx = _named(doc, "contexts", str(name))
    cluster = _named(doc, "clusters", str(((ctx or {}).get("context") or {}).get("cluster")))
    server = ((cluster or {}).get("cluster") or {}).get("server")
    if not server:
        raise KubeconfigError(f"context {name!r} has no cluster with a server URL")
    return str(server)


def port_of(path: Path) -> int:
    """The port of the first cluster's server in the kubeconfig at ``path``."""
    doc = parse(path.read_text(), source=str(path))
    server = str(((doc.get("clusters") or [{}])[0].get("cluster") or {}).get("server", ""))
    return urlsplit(server).port or 443


def loopback_servers(doc: Mapping[str, Any]) -> Doc:
    """Servers on 0.0.0.0 (k3d prints its bind address) become 127.0.0.1, which the API's
    certificate names and every OS routes to this machine."""
    out = copy.deepcopy(dict(doc))
    for entry in out.get("clusters") or []:
        cluster = entry.get("cluster") or {}
        parts = urlsplit(str(cluster.get("server", "")))
        if parts.hostname == "0.0.0.0":
            netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
            cluster["server"] = urlunsplit(parts._replace(netloc=netloc))
    return out


def with_server(doc: Mapping[str, Any], url: str) -> Doc:
    """Every cluster's server set to ``url`` (k3s.yaml names 127.0.0.1 on the server itself)."""
    out = copy.deepcopy(dict(doc))
    for entry in out.get("clusters") or []:
        entry.setdefault("cluster", {})["server"] = url
    return out


def is_current(path: Path, text: str) -> bool:
    """True when ``path`` holds exactly ``text`` and only its owner can read it."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        return mode == 0o600 and path.read_text() == text
    except (OSError, UnicodeDecodeError):
        return False


def write(path: Path, text: str) -> None:
    secrets.write_private(path, text.encode())


def _named(doc: Mapping[str, Any], section: str, name: str) -> Doc | None:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    return None
