"""Pinned upstream artifacts: the profile's source for each component, or the default for its
version (``bootstrap.artifacts.pins``), downloads through httpx with the checksum verified, a
content-addressed cache, and the bundle directory an air-gapped rebuild reads instead of the
network.

Where files come from, in order: ``artifacts.dir`` when the profile sets it (never the network:
a missing file is an InputError naming it), else the cache (``artifacts.cache_dir`` or
``~/.cache/clusterboot/artifacts``, files named by their sha256), else the URL. A checksum
mismatch is a hard error naming the URL, the expected and the actual sum; the bad bytes are not
kept.

A Helm chart (``components.X.chart``) is one packaged file too: its URL and sha256 come from the
repository's ``index.yaml`` (the profile may pin the sha256, which must then agree with the
index), and the lookup is recorded in the cache so later runs need no index. Rendering it is
``bootstrap.artifacts.helm``'s job.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import httpx
import structlog

from bootstrap import retry
from bootstrap.artifacts import helm, pins
from bootstrap.errors import InputError, TemporaryError
from bootstrap.profile.schema import ChartSource, ManifestSource, Profile

log = structlog.get_logger("clusterboot.artifacts")

COMPONENTS = ("metallb", "sealed_secrets", "argocd")
INDEX = "index.json"
DOWNLOAD = retry.Policy("download", attempts=4, first_delay=1.0, max_delay=8.0)
TIMEOUT = httpx.Timeout(60.0, connect=15.0)
_CHUNK = 1 << 16

UPSTREAM_HINTS = {
    "metallb": "config/manifests/metallb-native.yaml at the MetalLB release tag",
    "argocd": "manifests/install.yaml at the Argo CD release tag",
    "sealed_secrets": "controller.yaml from the Sealed Secrets release assets",
}


class ChecksumMismatch(InputError):
    """A downloaded or bundled file is not the one the profile pinned."""


@dataclass(frozen=True)
class Artifact:
    """One pinned file: what it is for, where it comes from, and its sha256."""

    component: str
    version: str
    url: str
    sha256: str
    """Empty for a chart whose sha256 the profile does not pin, until ``Store.resolve``."""
    chart: ChartSource | None = field(default=None, compare=False)

    @property
    def bundle_name(self) -> str:
        """Its file name in a bundle: readable, and unique per component and version."""
        if self.chart is not None:
            return f"{self.component}-{self.version}-{self.chart.chart}-{self.chart.version}.tgz"
        base = Path(urllib.parse.urlparse(self.url).path).name or "manifest.yaml"
        return f"{self.component}-{self.version}-{base}"

    @property
    def identity(self) -> str:
        """What the artifact is, independent of where it was found (a bundle index key)."""
        if self.chart is None:
            return self.url
        return f"{self.chart.repository.rstrip('/')} {self.chart.chart} {self.chart.version}"


def artifact_for(profile: Profile, component: str) -> Artifact:
    """The profile's source for ``component``, or the default for its pinned version.

    A chart's URL is its repository's index until ``Store.resolve`` looks it up. Raises
    InputError when there is no source at all.
    """
    settings = getattr(profile.components, component)
    key = f"components.{component}.source"
    chart = pins.chart_for(profile, component)
    if chart is not None:
        return Artifact(
            component,
            settings.version,
            helm.index_url(chart.repository),
            chart.sha256 or "",
            chart=chart,
        )
    source: ManifestSource | None = settings.source or pins.DEFAULT_SOURCES.get(
        (component, settings.version)
    )
    if source is None:
        raise InputError(
            f"{key} is needed: clusterboot ships no verified checksum for {component} "
            f"{settings.version}",
            hint=f"set {key}: {{url: <{UPSTREAM_HINTS[component]}>, sha256: <its sha256>}} "
            f"(`sha256sum` of the file you trust) or components.{component}.chart, or pin a "
            "version listed in bootstrap/artifacts/pins.py",
        )
    return Artifact(component, settings.version, source.url, source.sha256)


def needed(profile: Profile) -> list[Artifact]:
    """Every artifact the profile's enabled components need, then its cluster's (the pinned
    k3s install script and air-gapped files), in a stable order. A component in processes mode
    needs none: it is built locally, its objects included."""
    left_out = dict(not_bundled(profile))
    components = [artifact_for(profile, name) for name in COMPONENTS if name not in left_out]
    return [*components, *cluster_artifacts(profile)]


def k3s_artifact(part: str, version: str, source: ManifestSource) -> Artifact:
    """One pinned k3s file: ``part`` is k3s-install-script, k3s-binary or k3s-images."""
    return Artifact(part, version, source.url, source.sha256)


def cluster_artifacts(profile: Profile) -> list[Artifact]:
    """What the cluster stage uploads to a server: k3s's install script, and for an
    air-gapped install its binary and images."""
    cluster = profile.cluster
    settings = {"k3s-ssh": cluster.k3s_ssh, "k3s-oci": cluster.k3s_oci}.get(cluster.provider)
    if settings is None:
        return []
    sources: list[tuple[str, ManifestSource | None]] = [
        ("k3s-install-script", settings.install_script)
    ]
    airgap = getattr(settings, "airgap", None)
    if airgap is not None:
        sources += [("k3s-binary", airgap.binary), ("k3s-images", airgap.images)]
    return [
        k3s_artifact(part, settings.k3s_version, source)
        for part, source in sources
        if source is not None
    ]


def not_bundled(profile: Profile) -> list[tuple[str, str]]:
    """The components ``needed`` leaves out, each with the reason."""
    left_out = []
    for name in COMPONENTS:
        settings = getattr(profile.components, name)
        if not settings.enabled:
            left_out.append((name, f"components.{name}.enabled is false"))
        elif getattr(settings, "mode", "manifests") == "processes":
            left_out.append((name, "mode: processes, built locally from its Go module"))
    return left_out


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clusterboot" / "artifacts"


class Store:
    """Hands out verified local copies of artifacts (offline directory, cache or download)."""

    def __init__(
        self,
        *,
        cache_dir: Path,
        offline_dir: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.offline_dir = offline_dir
        self.transport = transport
        self.sleep = sleep

    @classmethod
    def for_profile(
        cls, profile: Profile, *, transport: httpx.BaseTransport | None = None
    ) -> Store:
        cfg = profile.artifacts
        return cls(
            cache_dir=Path(cfg.cache_dir).expanduser() if cfg.cache_dir else default_cache_dir(),
            offline_dir=Path(cfg.dir).expanduser() if cfg.dir else None,
            transport=transport,
        )

    def path(self, artifact: Artifact) -> Path:
        """A local file with exactly the pinned bytes."""
        if self.offline_dir is not None:
            return self._offline(self.resolve(artifact))
        cached = self.cache_dir / "sha256" / artifact.sha256
        if not (artifact.sha256 and cached.is_file()):
            artifact = self.resolve(artifact)
            cached = self.cache_dir / "sha256" / artifact.sha256
        if cached.is_file():
            actual, size = sha256_of(cached), cached.stat().st_size
            if actual == artifact.sha256:
                log.debug("artifact.cached", component=artifact.component, file=str(cached))
                return cached
            cached.unlink()  # damaged (cut short, changed): never trusted, fetched again
            log.warning(
                "artifact.cache_damaged",
                component=artifact.component,
                file=str(cached),
                bytes=size,
                why=f"sha256 {actual}, not the pinned one: fetching it again",
            )
        return retry.call(
            DOWNLOAD,
            lambda: self._fetch(artifact, cached),
            what=f"download {artifact.url}",
            sleep=self.sleep,
        )

    def text(self, artifact: Artifact) -> str:
        return self.path(artifact).read_text(encoding="utf-8")

    def resolve(self, artifact: Artifact) -> Artifact:
        """A chart with its download URL and sha256 filled in: from the bundle index when
        offline, else from an earlier lookup recorded in the cache, else from the repository's
        index.yaml. A sha256 the profile pins must match the index's digest. Manifests are
        returned as they are."""
        chart = artifact.chart
        if chart is None:
            return artifact
        if self.offline_dir is not None:
            return self._offline_chart(artifact)
        record = self.cache_dir / "charts" / f"{_digest(artifact.identity)}.json"
        try:
            known = json.loads(record.read_text())
            if artifact.sha256 in ("", known["sha256"]):
                return replace(artifact, url=known["url"], sha256=known["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        where = helm.index_url(chart.repository)
        text = retry.call(
            DOWNLOAD,
            lambda: b"".join(self._chunks(where)),
            what=f"download {where}",
            sleep=self.sleep,
        ).decode("utf-8", errors="replace")
        entry = helm.find_in_index(text, chart)
        if artifact.sha256 and entry.digest and entry.digest != artifact.sha256:
            raise _mismatch(artifact, entry.digest, where=f"the digest in {where}")
        sha = artifact.sha256 or entry.digest
        if not sha:
            raise InputError(
                f"{where} lists no digest for {chart.chart} {chart.version}, and "
                f"components.{artifact.component}.chart.sha256 is not set",
                hint="pin it: components.X.chart.sha256: <sha256sum of the chart .tgz you trust>",
            )
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"url": entry.url, "sha256": sha}))
        if not artifact.sha256:
            log.warning(
                "artifact.chart_unpinned",
                component=artifact.component,
                why="checked only against its repository's own index; pin it",
                pin=f"components.{artifact.component}.chart.sha256: {sha}",
            )
        log.info(
            "artifact.chart_found",
            component=artifact.component,
            url=entry.url,
            pinned=bool(artifact.sha256),
        )
        return replace(artifact, url=entry.url, sha256=sha)

    def _offline_chart(self, artifact: Artifact) -> Artifact:
        assert self.offline_dir is not None
        for entry in _index_entries(self.offline_dir):
            if entry.get("identity") == artifact.identity and artifact.sha256 in (
                "",
                entry.get("sha256"),
            ):
                return replace(artifact, url=str(entry["url"]), sha256=str(entry["sha256"]))
        if artifact.sha256:
            return artifact  # looked up by its sha256 like any pinned file
        raise InputError(
            f"artifacts.dir: {self.offline_dir / INDEX} lists no {artifact.identity} "
            f"({artifact.component})",
            hint="fill the directory with `invoke bundle --profile P --out DIR` on a machine "
            "with network access, then copy it here",
        )

    def _offline(self, artifact: Artifact) -> Path:
        assert self.offline_dir is not None
        names = _index_files(self.offline_dir).get(artifact.sha256, [])
        candidates = [self.offline_dir / n for n in names] + [
            self.offline_dir / artifact.sha256,
            self.offline_dir / artifact.bundle_name,
        ]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise InputError(
                f"artifacts.dir: {candidates[0]} is missing ({artifact.component} "
                f"{artifact.version}, sha256 {artifact.sha256})",
                hint="fill the directory with `invoke bundle --profile P --out DIR` on a machine "
                "with network access, then copy it here",
            )
        _verify(found, artifact, where=str(found), origin="bundle")
        return found

    def _fetch(self, artifact: Artifact, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        partial = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                actual = self._copy_into(artifact.url, out)
                size = out.tell()
            if actual != artifact.sha256:
                raise _mismatch(artifact, actual, where=artifact.url, size=size)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        log.info("artifact.downloaded", component=artifact.component, url=artifact.url)
        return target

    def _copy_into(self, url: str, out: BinaryIO) -> str:
        """Stream ``url`` into ``out``; return the sha256 of what was written."""
        digest = hashlib.sha256()
        for chunk in self._chunks(url):
            digest.update(chunk)
            out.write(chunk)
        return digest.hexdigest()

    def _chunks(self, url: str) -> Iterator[bytes]:
        if url.startswith("file://"):
            path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
            try:
                with path.open("rb") as handle:
                    yield from iter(lambda: handle.read(_CHUNK), b"")
            except OSError as err:
                raise InputError(f"cannot read {url}: {err.strerror or err}") from err
            return
        try:
            with (
                httpx.Client(
                    timeout=TIMEOUT, follow_redirects=True, transport=self.transport
                ) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code >= 500 or response.status_code == 429:
                    raise TemporaryError(f"GET {url}: {response.status_code}")
                if response.status_code >= 400:
                    raise InputError(
                        f"GET {url}: {response.status_code} {response.reason_phrase}",
                        hint="check the URL and the version it names",
                    )
                yield from response.iter_bytes(_CHUNK)
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:
            host = urllib.parse.urlparse(url).hostname or url
            raise TemporaryError(
                f"this machine cannot reach {host} to fetch {url} ({type(err).__name__}: {err})",
                hint="offline or behind a firewall? fetch the artifacts where the network is "
                "reachable with `invoke bundle --profile PROFILE --out DIR`, then use them here "
                "with --set artifacts.dir=DIR (or artifacts.dir in the profile)",
            ) from err
        except httpx.TransportError as err:
            raise TemporaryError(f"GET {url}: {type(err).__name__}: {err}") from err
        except httpx.HTTPError as err:  # too many redirects, a malformed URL or response
            raise InputError(
                f"GET {url}: {type(err).__name__}: {err}", hint="check the URL"
            ) from err


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, artifact: Artifact, *, where: str, origin: str = "download") -> None:
    actual = sha256_of(path)
    if actual != artifact.sha256:
        raise _mismatch(artifact, actual, where=where, size=path.stat().st_size, origin=origin)


def _mismatch(
    artifact: Artifact,
    actual: str,
    *,
    where: str,
    size: int | None = None,
    origin: str = "download",
) -> ChecksumMismatch:
    """Which artifact, from where, the sums (and how many bytes came), and what to do: for a
    bundle's copy, copy or bundle it again; for a download, nothing was kept, so run again,
    and change the pin only for a file that is trusted."""
    field = "chart" if artifact.chart is not None else "source"
    pin = f"components.{artifact.component}.{field}.sha256"
    got = f"{actual} ({size:,} bytes)" if size is not None else actual
    if origin == "bundle":
        hint = (
            "the bundle's copy is damaged (cut short when copied?) or not the pinned file, and "
            "nothing was applied from it: copy it again from the directory `invoke bundle` "
            "filled, or run `invoke bundle --profile P --out DIR` again with network access"
        )
    else:
        hint = (
            "the file is not the one pinned, and nothing was kept or applied: if it was cut "
            "short (a dropped connection, a proxy), run again; if it changed and the new file "
            f"is trusted, update {pin}; otherwise find out who changed it"
        )
    return ChecksumMismatch(
        f"checksum mismatch for {artifact.component} {artifact.version} from {where}: "
        f"expected sha256 {artifact.sha256}, got {got}",
        hint=hint,
    )


def _index_entries(directory: Path) -> list[dict[str, object]]:
    """A bundle index's entries (none when there is no index)."""
    path = directory / INDEX
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text()).get("artifacts", [])
    except (ValueError, AttributeError) as err:
        raise InputError(f"{path} is not a bundle index: {err}") from err
    return [e for e in entries if isinstance(e, dict)]


def _index_files(directory: Path) -> dict[str, list[str]]:
    """sha256 -> file names, from a bundle's index (empty when there is none)."""
    found: dict[str, list[str]] = {}
    for entry in _index_entries(directory):
        if entry.get("sha256") and entry.get("file"):
            found.setdefault(str(entry["sha256"]), []).append(Path(str(entry["file"])).name)
    return found


@dataclass(frozen=True)
class IndexEntry:
    component: str
    version: str
    url: str
    sha256: str
    file: str
    identity: str


def bundle(profile: Profile, out_dir: Path, *, store: Store | None = None) -> list[IndexEntry]:
    """Copy every artifact ``profile`` needs into ``out_dir`` and write its ``index.json``;
    a profile with ``artifacts.dir: out_dir`` then needs no network."""
    store = store or Store.for_profile(profile)
    wanted = needed(profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for wanted_artifact in wanted:
        artifact = store.resolve(wanted_artifact)
        source = store.path(artifact)
        target = out_dir / artifact.bundle_name
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        _verify(target, artifact, where=str(target), origin="bundle")
        entries.append(
            IndexEntry(
                artifact.component,
                artifact.version,
                artifact.url,
                artifact.sha256,
                file=target.name,
                identity=artifact.identity,
            )
        )
    index = {"profile": profile.name, "artifacts": [asdict(e) for e in entries]}
    (out_dir / INDEX).write_text(json.dumps(index, indent=2) + "\n")
    return entries
