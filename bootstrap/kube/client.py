"""The only module that talks to the Kubernetes API (through the official Python client).

Server-side apply with field manager ``clusterboot``; reads return plain dicts so the rest of
the code (health rules, plans) stays pure and testable without a client.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import urllib3
from kubernetes import client, config, dynamic, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from bootstrap import retry
from bootstrap.errors import ClusterbootError, TemporaryError
from bootstrap.kube import discovery_cache

if TYPE_CHECKING:
    pass

FIELD_MANAGER = "clusterboot"
Obj = dict[str, Any]


def _version() -> str:
    try:
        return importlib.metadata.version("clusterboot")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


USER_AGENT = f"clusterboot/{_version()}"

READ_RETRIES = urllib3.Retry(
    total=5,
    connect=3,
    read=3,
    status=4,
    redirect=0,
    backoff_factor=0.25,
    backoff_max=4.0,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=frozenset({"GET", "HEAD"}),
    respect_retry_after_header=True,
    raise_on_status=False,
    raise_on_redirect=False,
)
"""Reads are retried where they are sent (a 429 after its Retry-After, a 5xx, a reset or timed
out connection): discovery alone is dozens of GETs that must all succeed. Writes are not; the
apply's own policy retries them."""


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(obj["apiVersion"], obj["kind"], meta.get("name", ""), meta.get("namespace"))


class ApiError(ClusterbootError):
    """The API server refused a request for a reason that will not go away by itself."""

    def __init__(self, message: str, *, status: int | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status


class Kube:
    """A connection to one cluster. Thread-safe for reads; discovery is refreshed on demand."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        request_timeout: float = 30.0,
        discovery_dir: Path | None = None,
    ) -> None:
        self.api = api
        self.request_timeout = request_timeout
        _default_timeout(api, request_timeout)
        self._dynamic: dynamic.DynamicClient | None = None
        # The dynamic client's discovery cache is not thread-safe: stages running side by side
        # share this connection, and one invalidating the cache while another looked a kind up
        # raised KeyError('resources') in the other.
        self._discovery = threading.RLock()
        # By default the client keeps its discovery cache in one file per API address under the
        # system temp directory, shared by every process and every cluster ever served there: a
        # cluster rebuilt on the same port would start from the old one's kinds. Ours is kept
        # per cluster (address and CA) in ``discovery_dir``, else private to this connection.
        self._discovery_dir = discovery_dir
        self._cache_dir: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def connect(
        cls,
        kubeconfig: Path,
        *,
        context: str | None = None,
        request_timeout: float = 30.0,
        discovery_dir: Path | None = None,
    ) -> Kube:
        configuration = client.Configuration()
        config.load_kube_config(
            config_file=str(kubeconfig), context=context, client_configuration=configuration
        )
        configuration.retries = READ_RETRIES
        api = client.ApiClient(configuration)
        api.user_agent = USER_AGENT  # (was defined but never set: OpenAPI-Generator it said)
        return cls(api, request_timeout=request_timeout, discovery_dir=discovery_dir)

    @property
    def host(self) -> str:
        return str(self.api.configuration.host)

    # -- discovery --------------------------------------------------------------------------
    @property
    def dyn(self) -> dynamic.DynamicClient:
        with self._discovery:
            if self._dynamic is None:
                cache = str(self._discovery_file())
                self._dynamic = _translate(
                    lambda: dynamic.DynamicClient(self.api, cache_file=cache),
                    "discovery",
                    read=True,
                )
            return self._dynamic

    def _discovery_file(self) -> Path:
        if self._discovery_dir is None:
            self._cache_dir = tempfile.TemporaryDirectory(prefix="clusterboot-discovery-")
            return Path(self._cache_dir.name) / "discovery.json"
        ca_file = self.api.configuration.ssl_ca_cert
        ca = Path(ca_file).read_bytes() if ca_file else None
        return discovery_cache.prepare(self._discovery_dir, host=self.host, ca=ca)

    def refresh_discovery(self) -> None:
        """Forget cached API groups, e.g. after a CRD became Established."""
        with self._discovery:
            if self._dynamic is not None:
                resources = self._dynamic.resources
                _translate(resources.invalidate_cache, "discovery", read=True)

    def resource(self, api_version: str, kind: str) -> Any:
        """The kind's API resource. A lookup may send discovery requests (an API version not
        read yet): a dropped connection there is a TemporaryError too, never a raw one."""

        def lookup() -> Any:
            return _translate(
                lambda: self.dyn.resources.get(api_version=api_version, kind=kind),
                f"discovery of {kind} {api_version}",
                read=True,
            )

        with self._discovery:
            try:
                return lookup()
            except ResourceNotFoundError:
                self.refresh_discovery()
                try:
                    return lookup()
                except ResourceNotFoundError as err:
                    raise TemporaryError(
                        f'no matches for kind "{kind}" in version "{api_version}"',
                        hint="its CustomResourceDefinition is missing or not Established yet",
                    ) from err

    # -- reads ------------------------------------------------------------------------------
    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj | None:
        res = self.resource(api_version, kind)
        try:
            found = _translate(
                lambda: res.get(
                    name=name,
                    namespace=namespace,
                    _request_timeout=self.request_timeout,
                    serializer=_as_dict,
                ),
                f"get {ObjectRef(api_version, kind, name, namespace)}",
                read=True,
            )
        except NotFound:
            return None
        return _plain(found)

    def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> tuple[list[Obj], str]:
        """Items and the list's resourceVersion (to start a watch from)."""
        res = self.resource(api_version, kind)
        found = _translate(
            lambda: res.get(
                namespace=namespace,
                label_selector=label_selector,
                _request_timeout=self.request_timeout,
                serializer=_as_dict,
            ),
            f"list {kind}",
            read=True,
        )
        data = _plain(found)
        # The API leaves apiVersion and kind off a list's items; health rules are chosen by
        # them, so an item without them would be judged as a kind without a rule.
        items = [{"apiVersion": api_version, "kind": kind, **i} for i in data.get("items") or []]
        return items, str(data["metadata"].get("resourceVersion", ""))

    def watch(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        resource_version: str,
        timeout_seconds: int = 60,
        label_selector: str | None = None,
        cancel: Cancel | None = None,
    ) -> Iterator[tuple[str, Obj]]:
        """Events (type, object) after ``resource_version``; BOOKMARK events included.

        A 410 Gone raises ``Expired`` so the caller can relist. The server ends the stream
        after ``timeout_seconds``; a socket read timeout guards against a dead connection;
        ``cancel`` ends it early from another thread (the stream then simply ends).
        """
        res = self.resource(api_version, kind)
        watcher, guard = watch.Watch(), cancel or Cancel()
        opened: list[Any] = []

        def open_stream(**kwargs: Any) -> Any:
            opened.append(guard.track(res.get(**kwargs)))
            return opened[-1]

        try:
            stream = watcher.stream(
                open_stream,
                namespace=namespace,
                resource_version=resource_version,
                timeout_seconds=timeout_seconds,
                label_selector=label_selector,
                allow_watch_bookmarks=True,
                serialize=False,
                _request_timeout=(5, timeout_seconds + 10),
            )
            for event in stream:
                if not isinstance(event, dict):  # what a socket shut by ``cancel`` leaves
                    if guard.is_set():
                        return
                    raise TemporaryError(f"watch {kind}: unreadable event {event!r:.80}")
                raw = event.get("raw_object") or _plain(event["object"])
                if event["type"] == "ERROR" and raw.get("code") == 410:
                    raise Expired(str(raw.get("message", "resource version too old")))
                yield event["type"], raw
        except ApiException as err:
            if err.status == 410:
                raise Expired(str(err.reason)) from err
            raise _classify(err, f"watch {kind}") from err
        except (TimeoutError, urllib3.exceptions.HTTPError, OSError) as err:
            if not guard.is_set():
                raise TemporaryError(f"watch {kind} interrupted: {_reason(err)}") from err
        finally:
            watcher.stop()
            guard.untrack(*opened)

    # -- writes -----------------------------------------------------------------------------
    def locate(self, obj: Mapping[str, Any], *, namespace: str | None = None) -> ObjectRef:
        """Where ``obj`` lives: namespaced kinds default to ``namespace`` (else "default"),
        cluster-scoped kinds have none. Raises TemporaryError for a kind not served (yet)."""
        res = self.resource(obj["apiVersion"], obj["kind"])
        ref = ObjectRef.of(obj)
        where = (ref.namespace or namespace or "default") if res.namespaced else None
        return ObjectRef(ref.api_version, ref.kind, ref.name, where)

    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str = FIELD_MANAGER,
    ) -> Obj:
        """Server-side apply one object; ``namespace`` fills in a missing one. With
        ``dry_run`` the server runs admission and answers what it would store. A partial
        object (a nudge) needs a ``field_manager`` of its own: under the manager that applied
        the whole object, the fields it leaves out would be removed."""
        ref = self.locate(obj, namespace=namespace)
        res = self.resource(ref.api_version, ref.kind)
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "namespace"}
        if ref.namespace:
            meta["namespace"] = ref.namespace
        body = {**obj, "metadata": meta}
        result = _translate(
            lambda: res.server_side_apply(
                body=body,
                name=ref.name,
                namespace=ref.namespace,
                field_manager=field_manager,
                force_conflicts=True,
                dry_run="All" if dry_run else None,
                _request_timeout=self.request_timeout,
            ),
            f"apply {ref}",
        )
        return _plain(result)

    def apply_status(self, obj: Mapping[str, Any]) -> Obj:
        """Server-side apply the ``status`` subresource (used by simulators and probes)."""
        res = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        result = _translate(
            lambda: self.dyn.request(
                "PATCH",
                res.path(name=meta["name"], namespace=meta.get("namespace")) + "/status",
                body=dict(obj),
                content_type="application/apply-patch+yaml",
                query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            ),
            f"apply status of {ObjectRef.of(obj)}",
        )
        return _plain(result)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        res = self.resource(api_version, kind)
        try:
            _translate(
                lambda: res.delete(
                    name=name, namespace=namespace, _request_timeout=self.request_timeout
                ),
                f"delete {kind} {name}",
            )
        except NotFound:
            return False
        return True

    def readyz(self) -> tuple[bool, str]:
        try:
            method, url, headers, _, _ = self.api.param_serialize(
                "GET", "/readyz", auth_settings=["BearerToken"]
            )
            response = self.api.call_api(method, url, header_params=headers, _request_timeout=5)
            response.read()
        except (urllib3.exceptions.HTTPError, OSError, ApiException) as err:
            return False, f"API server unreachable at {self.host}: {_reason(err)}"
        text = (response.data or b"").decode(errors="replace")
        if response.status != 200:
            return False, f"/readyz answered {response.status}: {text[:300]}"
        return True, text

    def pod_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int, previous: bool = False
    ) -> str:
        """The last ``tail_lines`` lines a container wrote (``previous``: its last run's, for
        one that restarted)."""
        core = client.CoreV1Api(self.api)
        what = f"logs of {namespace}/{pod} container {container}"
        text = _translate(
            lambda: core.read_namespaced_pod_log(
                pod, namespace, container=container, tail_lines=tail_lines, previous=previous,
                _request_timeout=self.request_timeout,
            ),
            what,
            read=True,
        )
        return str(text)

    def exec(
        self,
        namespace: str,
        pod: str,
        argv: Sequence[str],
        *,
        container: str | None = None,
        stdin: BinaryIO | None = None,
        stdout: BinaryIO,
        stderr: BinaryIO,
    ) -> int:
        """Run ``argv`` in a container of ``pod`` (no terminal) with these byte streams as its
        standard streams, as ``kubectl exec -i`` does; its exit status. Input is sent as it is
        read (a protocol such as git's needs no end of input); a read of ``stdin`` blocks."""
        from kubernetes.stream import stream as ws_stream

        what = f"exec {argv[0]} in pod {namespace}/{pod}"
        # stream() swaps the client's request method while it connects: its own client, so
        # the connection's other threads are not disturbed.
        core = client.CoreV1Api(client.ApiClient(self.api.configuration))
        session = _translate(
            lambda: ws_stream(
                core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                command=list(argv),
                container=container,
                stdin=stdin is not None,
                stdout=True,
                stderr=True,
                tty=False,
                _preload_content=False,
                binary=True,
            ),
            what,
        )
        if stdin is not None:
            threading.Thread(target=_feed, args=(session, stdin), daemon=True).start()
        sinks = {1: stdout, 2: stderr}
        try:
            while session.is_open():
                session.update(timeout=1)
                for channel, sink in sinks.items():
                    _drain(session, channel, sink)
            for channel, sink in sinks.items():
                _drain(session, channel, sink)
            status = session.read_channel(3, timeout=0)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as err:
            raise Unreachable(f"{what}: {_reason(err)}") from err
        finally:
            session.close()
        return _exit_status(status, what)

    def server_version(self) -> str:
        info = _translate(lambda: client.VersionApi(self.api).get_code(), "version", read=True)
        return str(info.git_version)


def _feed(session: Any, source: BinaryIO) -> None:
    """Send ``source`` to the command's input until it ends, then close that input. A broken
    connection ends the feeding quietly: the reading side reports it."""
    with contextlib.suppress(Exception):
        while session.is_open():
            data = source.read1(65536) if hasattr(source, "read1") else source.read(65536)
            if not data:
                session.close_channel(0)
                return
            session.write_stdin(bytes(data))


def _exit_status(status: bytes | str, what: str) -> int:
    """The exit code in the exec's status channel (a metav1.Status): 0 on Success, the
    ExitCode cause on NonZeroExitCode; a failure to start the command is an error."""
    import json

    try:
        found = json.loads(status or "{}")
    except ValueError as err:
        raise ApiError(f"{what}: unreadable exec status {status!r:.200}") from err
    if found.get("status") == "Success":
        return 0
    for cause in (found.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode" and str(cause.get("message", "")).isdigit():
            return int(cause["message"])
    raise ApiError(f"{what}: {found.get('message') or 'the connection ended without a status'}")


def _drain(session: Any, channel: int, sink: BinaryIO) -> None:
    data = session.read_channel(channel, timeout=0)
    if data:
        sink.write(data)
        sink.flush()


def _default_timeout(api: Any, seconds: float) -> None:
    """Give every request a timeout: the dynamic client's discovery and ``request`` send none,
    and a server that stops answering would hold them for ever."""
    rest: Any = getattr(api, "rest_client", None)
    send = getattr(rest, "request", None)
    if send is None or getattr(send, "bounded", False):
        return

    def request(*args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
        return send(*args, _request_timeout=_request_timeout or seconds, **kwargs)

    request.bounded = True  # type: ignore[attr-defined]
    rest.request = request


class Cancel:
    """Ends watches from another thread: ``set`` shuts down every open watch socket, so a
    thread blocked reading one returns at once instead of at the server's timeout."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._open: list[Any] = []

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        with self._lock:
            self._event.set()
            for response in self._open:
                _shutdown(response)

    def track(self, response: Any) -> Any:
        """Remember an open watch response (shut at once if already set); returns it."""
        with self._lock:
            self._open.append(response)
            if self._event.is_set():
                _shutdown(response)
        return response

    def untrack(self, *responses: Any) -> None:
        with self._lock:
            self._open = [r for r in self._open if all(r is not done for done in responses)]


def _shutdown(response: Any) -> None:
    with contextlib.suppress(Exception):
        response.shutdown()


class NotFound(ClusterbootError):
    """The object does not exist."""


class Unreachable(TemporaryError):
    """The connection failed or broke before the whole answer arrived."""


class Expired(TemporaryError):
    """A watch's resourceVersion is too old (410 Gone): relist and watch again."""


def _as_dict(_client: Any, data: Obj) -> Obj:
    """Responses stay the dicts the JSON decoder made: the dynamic client's own ResourceInstance
    walks every field (a CustomResourceDefinition's schema is thousands) and is walked back."""
    return data


def _plain(obj: Any) -> Obj:
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    raise TypeError(f"unexpected API object {type(obj).__name__}")


def _translate(call: Any, what: str, *, read: bool = False) -> Any:
    """Run one API call, its errors made ours. A ``read`` whose connection broke after the
    answer began (a body cut short, which urllib3 does not retry) is tried again, bounded."""
    if read:
        return retry.call(
            "api-read", lambda: _translate(call, what), what=what, retry_on=(Unreachable,)
        )
    try:
        return call()
    except ApiException as err:
        raise _classify(err, what) from err
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise Unreachable(f"{what}: API server unreachable: {_reason(err)}") from err


def _reason(err: BaseException) -> str:
    text = str(getattr(err, "reason", None) or err)
    return text.splitlines()[0][:200]


def _classify(err: ApiException, what: str) -> ClusterbootError:
    """Transient API answers become TemporaryError (retried); the rest fail at once."""
    status = getattr(err, "status", None)
    message = _server_message(err)
    if status == 404:
        return NotFound(f"{what}: not found ({message})")
    transient = (
        status in {0, None, 409, 429, 500, 502, 503, 504}
        or "failed calling webhook" in message
        or "no endpoints available" in message
        or "connection refused" in message
    )
    if transient:
        retry_after = (getattr(err, "headers", None) or {}).get("Retry-After")
        error = TemporaryError(f"{what}: {status} {message}")
        error.retry_after = float(retry_after) if retry_after and retry_after.isdigit() else None  # type: ignore[attr-defined]
        return error
    return ApiError(f"{what}: {status} {message}", status=status)


def _server_message(err: Any) -> str:
    body = getattr(err, "body", None)
    if body:
        import json

        with contextlib.suppress(ValueError, TypeError):
            return str(json.loads(body).get("message", body))
        return str(body)[:500]
    return str(getattr(err, "reason", err))


def split_documents(docs: Iterable[Mapping[str, Any] | None]) -> list[Obj]:
    """Drop empty YAML documents and unwrap ``List`` kinds."""
    out: list[Obj] = []
    for doc in docs:
        if not doc:
            continue
        if str(doc.get("kind", "")).endswith("List") and "items" in doc:
            out.extend(dict(i) for i in doc["items"])
        else:
            out.append(dict(doc))
    return out
