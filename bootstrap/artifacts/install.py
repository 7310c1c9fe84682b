"""Install a component from its pinned upstream manifest, idempotently.

The manifest itself says what proves the component is installed (its Namespace and labels,
CRDs, workloads and their images, and any field a stage adds: ``Key``); ``observe`` reads those
from the cluster and ``decide`` — a pure function — says install, upgrade, repair or nothing.
Applying is one server-side apply of the whole manifest, in dependency order.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bootstrap import artifacts, kube
from bootstrap.artifacts import helm
from bootstrap.errors import InputError, TemporaryError
from bootstrap.kube import watch
from bootstrap.kube.client import Kube, ObjectRef
from bootstrap.processes.runner import Runner
from bootstrap.stage import Context, Verdict

Doc = dict[str, Any]
Fields = Mapping[str, str]
WORKLOADS = {("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet")}
CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
CRD_VERSION = "apiextensions.k8s.io/v1"
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "PriorityClass",
        "StorageClass",
        "IngressClass",
    }
)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Key:
    """An object whose presence and ``want`` fields tell whether the component is installed.
    Field names read ``image <container>``, ``label <name>``, ``data <key>`` or
    ``template-annotation <name>`` (a workload's pod template)."""

    ref: ObjectRef
    want: Fields = field(default_factory=dict)

    @property
    def workload(self) -> bool:
        return (group_of(self.ref.api_version), self.ref.kind) in WORKLOADS


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def kind_of(doc: Mapping[str, Any]) -> tuple[str, str]:
    return group_of(str(doc.get("apiVersion", ""))), str(doc.get("kind", ""))


# -- the manifest ---------------------------------------------------------------------------
def manifest(ctx: Context, component: str, *, namespace: str) -> list[Doc]:
    """The component's pinned manifest as objects (a private copy: callers may change it).

    A Helm chart is rendered for release ``helm.RELEASES[component]`` into ``namespace``, for
    the cluster's Kubernetes version."""
    artifact = artifacts.artifact_for(ctx.profile, component)
    path = artifacts.Store.for_profile(ctx.profile).path(artifact)
    if artifact.chart is None:
        return private_copy(pinned_manifest(path, artifact))
    return chart_objects(
        ctx, path, component, namespace, helm.values_for(component, artifact.chart)
    )


def chart_objects(
    ctx: Context,
    chart: Path,
    component: str,
    namespace: str,
    values: Mapping[str, Any],
    *,
    helm_binary: str = "helm",
) -> list[Doc]:
    """A chart (packaged or a directory) rendered as the component's release into
    ``namespace`` for the cluster's Kubernetes version (a private copy)."""
    rendered = _rendered(
        ctx.runner,
        helm_binary,
        str(chart),
        helm.RELEASES[component],
        namespace,
        json.dumps(values, sort_keys=True),
        ctx.kube.server_version(),
    )
    return private_copy(rendered)


def pinned_manifest(path: Path, artifact: artifacts.Artifact) -> tuple[Doc, ...]:
    """A verified manifest file's objects (shared: copy before changing them); parsed once
    per process. A file whose sha256 is the pinned one and still does not parse means the pin
    names a damaged file."""
    try:
        return _parsed(str(path), artifact.sha256)
    except InputError as err:
        source = f"components.{artifact.component}.source"
        raise InputError(
            f"{artifact.component} {artifact.version} manifest from {artifact.url}: "
            f"{err.message}",
            hint=f"its sha256 is the pinned one, so the pin names a damaged file (cut short "
            f"when it was pinned?): download it again, check that it parses, and pin that "
            f"file's sha256 in {source}",
        ) from None


def manifest_file(path: Path, *, rebuild: str = "build it again") -> list[Doc]:
    """A manifest on disk with no pinned checksum (a local build) as objects (a private
    copy), parsed once per file version; InputError naming the file and line when it does not
    parse (cut short?). ``rebuild``: how to make the file again."""
    try:
        return private_copy(_parsed(str(path), str(path.stat().st_mtime_ns)))
    except InputError as err:
        raise InputError(
            err.message,
            hint=f"it is a local build with no pinned checksum, cut short or changed since: "
            f"delete it and {rebuild}",
        ) from None


def private_copy(docs: Iterable[Doc]) -> list[Doc]:
    """A deep copy of plain manifest objects, through JSON: ten times faster than
    ``copy.deepcopy`` for the 1.5 MB of Argo CD's objects (YAML timestamps become ISO text, as
    the API client would send them)."""
    return list(json.loads(_json(list(docs))))


def _json(value: object) -> str:
    return json.dumps(value, default=lambda o: o.isoformat() if hasattr(o, "isoformat") else str(o))


@functools.lru_cache(maxsize=8)
def _parsed(path: str, version: str) -> tuple[Doc, ...]:
    """Parse once per process and file version (``version``: a checksum or an mtime), and once
    per file content at all: Argo CD's 1.5 MB manifest takes about 0.6 s to parse as YAML and
    10 ms to read back as JSON, so the parsed objects are kept by the content's sha256."""
    data = Path(path).read_bytes()
    cached = parsed_cache_dir() / f"{hashlib.sha256(data).hexdigest()}.json"
    try:
        return tuple(json.loads(cached.read_text()))
    except (OSError, ValueError):
        pass
    docs = _load(data, where=path)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.part")
        partial.write_text(_json(list(docs)))
        partial.replace(cached)
    except OSError:  # a read-only cache costs only time
        pass
    return docs


def parsed_cache_dir() -> Path:
    return artifacts.default_cache_dir().parent / "parsed"


_RENDERED: dict[tuple[str, ...], tuple[Doc, ...]] = {}


def _rendered(
    runner: Runner,
    helm_binary: str,
    path: str,
    release: str,
    namespace: str,
    values: str,
    kube_version: str,
) -> tuple[Doc, ...]:
    """Render once per chart file (and its mtime), release, namespace, values and Kubernetes
    version: a plan and a gate in one run ask for the same objects."""
    key = (path, str(Path(path).stat().st_mtime_ns), release, namespace, values, kube_version)
    if key not in _RENDERED:
        text = helm.render(
            runner,
            Path(path),
            helm_binary=helm_binary,
            release=release,
            namespace=namespace,
            values=json.loads(values),
            kube_version=kube_version,
        )
        if len(_RENDERED) >= 8:
            _RENDERED.clear()
        _RENDERED[key] = _load(text.encode(), where=f"helm template {path}")
    return _RENDERED[key]


def _load(data: bytes, *, where: str) -> tuple[Doc, ...]:
    """The objects of a manifest, all parsed before anything is applied; InputError naming
    ``where`` and the line when it is not valid YAML (a file cut short ends mid-document) or
    an object lacks its apiVersion, kind or name."""
    try:
        docs = list(yaml.load_all(data.decode("utf-8"), Loader=_Loader))
    except UnicodeDecodeError as err:
        raise InputError(f"{where}: not UTF-8 text (byte {err.start:,})") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = err.problem or err.context or "invalid"
        raise InputError(f"{where}: not valid YAML{at}: {what}") from None
    except yaml.YAMLError as err:
        raise InputError(f"{where}: not valid YAML: {err}") from None
    try:
        return tuple(kube.load_manifests(docs))
    except InputError as err:
        raise InputError(f"{where}: {err.message}", hint=err.hint) from None


def relocate(docs: Iterable[Doc], *, source: str, target: str) -> list[Doc]:
    """Move namespaced objects (and binding subjects) from namespace ``source`` to ``target``."""
    out = []
    for doc in private_copy(docs):
        meta = doc.setdefault("metadata", {})
        if meta.get("namespace") == source:
            meta["namespace"] = target
        for subject in doc.get("subjects") or []:
            if subject.get("namespace") == source:
                subject["namespace"] = target
        out.append(doc)
    return out


def ensure_namespace(
    docs: list[Doc], name: str, labels: Mapping[str, str] | None = None
) -> list[Doc]:
    """``docs`` with a Namespace ``name`` first (added, or its labels completed)."""
    labels = labels or {}
    for doc in docs:
        if kind_of(doc) == ("", "Namespace") and doc["metadata"]["name"] == name:
            doc["metadata"]["labels"] = {**(doc["metadata"].get("labels") or {}), **labels}
            return docs
    meta: Doc = {"name": name, **({"labels": dict(labels)} if labels else {})}
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": meta}, *docs]


def find(docs: Iterable[Doc], kind: str, name: str | None = None) -> Doc | None:
    return next(
        (d for d in docs if d.get("kind") == kind and name in (None, d["metadata"]["name"])), None
    )


def ref_of(doc: Mapping[str, Any], namespace: str) -> ObjectRef:
    """Where ``doc`` lives once applied with ``namespace`` as the default."""
    ref = ObjectRef.of(doc)
    if ref.kind in CLUSTER_SCOPED:
        return ObjectRef(ref.api_version, ref.kind, ref.name)
    return ObjectRef(ref.api_version, ref.kind, ref.name, ref.namespace or namespace)


# -- what proves it is installed ------------------------------------------------------------
def keys_of(docs: Iterable[Doc], *, namespace: str) -> list[Key]:
    """Its Namespaces (with their labels), CRDs and workloads (with their images)."""
    keys = []
    for doc in docs:
        kind = kind_of(doc)
        if kind == ("", "Namespace"):
            labels = doc["metadata"].get("labels") or {}
            keys.append(
                Key(ref_of(doc, namespace), {f"label {k}": str(v) for k, v in labels.items()})
            )
        elif kind == CRD:
            keys.append(Key(ref_of(doc, namespace)))
        elif kind in WORKLOADS:
            keys.append(Key(ref_of(doc, namespace), images(doc)))
    return keys


def images(workload: Mapping[str, Any]) -> dict[str, str]:
    spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    return {f"image {c['name']}": str(c.get("image", "")) for c in spec.get("containers") or []}


def project(obj: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """The fields ``names`` of a cluster object (absent ones left out)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    data = obj.get("data") or {}
    template = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
    found = {**images(obj)}
    found.update({f"label {k}": str(v) for k, v in labels.items()})
    found.update({f"data {k}": str(v) for k, v in data.items()})
    annotations = template.get("annotations") or {}
    found.update({f"template-annotation {k}": str(v) for k, v in annotations.items()})
    return {n: found[n] for n in names if n in found}


def observe(kube: Kube, keys: Sequence[Key]) -> dict[ObjectRef, dict[str, str] | None]:
    """What the cluster has of each key object (None: absent): one list for a collection that
    holds several of them (a component's CRDs, say), a get for a single one."""
    seen: dict[ObjectRef, dict[str, str] | None] = {}
    collections: dict[tuple[str, str, str | None], list[Key]] = {}
    for key in keys:
        ref = key.ref
        collections.setdefault((ref.api_version, ref.kind, ref.namespace), []).append(key)
    for (api_version, kind, namespace), members in collections.items():
        try:
            if len(members) == 1:
                ref = members[0].ref
                found = kube.get(api_version, kind, ref.name, namespace)
                named = {ref.name: found} if found is not None else {}
            else:
                items, _ = kube.list(api_version, kind, namespace=namespace)
                named = {item["metadata"]["name"]: item for item in items}
        except TemporaryError:  # the kind is not served: a CRD that is not installed yet
            named = {}
        for key in members:
            obj = named.get(key.ref.name)
            seen[key.ref] = None if obj is None else project(obj, key.want)
    return seen


def decide(
    title: str,
    version: str,
    keys: Sequence[Key],
    seen: Mapping[ObjectRef, Fields | None],
) -> str | None:
    """Install when no workload exists, upgrade when an image differs, repair when another key
    object or field differs; None when the cluster already has it all."""
    workloads = [k for k in keys if k.workload]
    if keys and all(seen.get(k.ref) is None for k in (workloads or keys)):
        return f"install {title} {version}"
    old_tags = sorted(
        {
            _tag(have)
            for k in workloads
            for name, want in k.want.items()
            if name.startswith("image ")
            and (have := (seen.get(k.ref) or {}).get(name)) is not None
            and have != want
        }
    )
    if old_tags:
        return f"upgrade {title} {', '.join(old_tags)} → {version}"
    drift = []
    for key in keys:
        fields = seen.get(key.ref)
        if fields is None:
            drift.append(f"{key.ref} missing")
            continue
        drift += [
            f"{key.ref} {name} differs"
            for name, want in key.want.items()
            if fields.get(name) != want
        ]
    if drift:
        more = f" and {len(drift) - 3} more" if len(drift) > 3 else ""
        return f"repair {title} {version}: {'; '.join(drift[:3])}{more}"
    return None


def _tag(image: str) -> str:
    name = image.rpartition("@")[0] or image
    tail = name.rpartition("/")[2]
    return tail.partition(":")[2] or "latest"


# -- applying and gating --------------------------------------------------------------------
def apply(ctx: Context, docs: Sequence[Doc], *, namespace: str, what: str) -> None:
    result = kube.apply_manifests(
        ctx.kube,
        docs,
        namespace=namespace,
        clock=ctx.clock,
        deadline=ctx.profile.timeouts.stage_seconds,
    )
    ctx.log.info("install.applied", what=what, summary=result.summary(), retries=result.retries)


def crd_refs(docs: Iterable[Doc]) -> list[ObjectRef]:
    return [
        ObjectRef(CRD_VERSION, "CustomResourceDefinition", d["metadata"]["name"])
        for d in docs
        if kind_of(d) == CRD
    ]


def readiness(ctx: Context, refs: Sequence[ObjectRef]) -> Verdict:
    """One look at ``refs`` for a stage's gate: passed when every one is Current, broken when
    one failed, else waiting with every blocker named (the engine follows them meanwhile)."""
    return watch.readiness(
        ctx.objects, refs, grace=float(ctx.profile.waves.progressing_grace_seconds)
    )


def await_ready(ctx: Context, refs: Sequence[ObjectRef], *, what: str) -> None:
    """Block until every ref is Current, for a change that needs its precondition (never for a
    gate: the engine waits on gates). Raises GateFailed, or GateTimeout at the stage deadline."""
    watch.await_objects(
        ctx.kube,
        list(refs),
        clock=ctx.clock,
        deadline=float(ctx.profile.timeouts.stage_seconds),
        grace_seconds=float(ctx.profile.waves.progressing_grace_seconds),
        what=what,
    )
