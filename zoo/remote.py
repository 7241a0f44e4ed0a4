"""Remote registries through fsspec: ``file://`` (or a path), ``http(s)://`` (read-only) and ``s3://``.

A remote registry has the local zoo's layout, ``<root>/<name>/<version>/{files..., MANIFEST.json}``.

- ``pull`` copies a version into the local zoo (the cache): the manifest is checked against the
  expected digest (a pinned ``@sha256`` ref or the http index), every file is streamed into a
  ``.tmp-`` folder and checked for size and sha256 (a tampered or truncated file raises
  IntegrityError naming it), and only a complete, verified folder is renamed into place.
- ``push`` uploads a verified local version under the SAME version number. ``file://`` stages and
  renames like a local publish; ``s3://`` first claims the version with a create-only
  ``.push-claim`` object, uploads the files, writes MANIFEST.json last with a create-only put,
  then drops the claim, so a killed push leaves no visible version and of two pushes of one
  version exactly one wins (the other gets ConflictError).
- A static http server of a zoo folder works as a read-only registry through ``index.json`` at its
  root (zoo/index.py: ``write_index`` / ``seqzoo zoo index`` rewrite it atomically).

Every network call has a timeout; a registry that does not answer raises UnavailableError.
"""

from __future__ import annotations

import asyncio
import json
import os
import posixpath
import shutil
import socket
import stat
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from seqzoo.zoo.card import CARD_FILE, validate_card
from seqzoo.zoo.errors import (
    ConflictError,
    InputError,
    IntegrityError,
    NotFoundError,
    SeqzooError,
    UnavailableError,
)
from seqzoo.zoo.manifest import (
    CHUNK,
    MANIFEST,
    check_file,
    parse_manifest,
    sha256_bytes,
    verify_folder,
)
from seqzoo.zoo.refs import Ref, choose_version, is_version, parse_ref, validate_name
from seqzoo.zoo.registry import LocalZoo, ModelVersion
from seqzoo.zoo.schemas import MAX_DOCUMENT_BYTES, parse_document

INDEX = "index.json"
CLAIM = ".push-claim"
DEFAULT_TIMEOUT = 30.0
CLAIM_TTL = 3600.0
ENV_S3_ENDPOINT = "SEQZOO_S3_ENDPOINT"
# the registry shipped in the repository (registry/, built from catalogue/), as raw files over https
SHIPPED_REGISTRY = "https://raw.githubusercontent.com/seqzoo/seqzoo/main/registry"
ENV_REGISTRY = "SEQZOO_REGISTRY"


def default_registry() -> str:
    """``$SEQZOO_REGISTRY``, else the shipped registry's address (``seqzoo zoo pull``'s default)."""
    return os.environ.get(ENV_REGISTRY) or SHIPPED_REGISTRY


class Remote:
    """One remote registry: list versions, read bytes, and (except http) write.

    Parameters
    ----------
    url : str
        ``file:///path``, a plain path, ``http(s)://host/path`` or ``s3://bucket/prefix``.
    timeout : float
        Seconds per network operation (connect and read).
    s3_endpoint : str, optional
        S3 endpoint URL (MinIO, moto, ...); default ``$SEQZOO_S3_ENDPOINT``, else AWS.
    """

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT, s3_endpoint: str | None = None):
        if not url or not isinstance(url, str):
            raise InputError("registry URL is empty")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        scheme = urlsplit(url).scheme.lower()
        self.scheme = scheme if scheme in ("http", "https", "s3", "file") else "file" if len(scheme) <= 1 else scheme
        if self.scheme == "file":
            import fsspec

            self.root = os.path.abspath(url.removeprefix("file://"))
            self.fs = fsspec.filesystem("file")
        elif self.scheme in ("http", "https"):
            import aiohttp
            import fsspec

            self.root = self.url
            client_timeout = aiohttp.ClientTimeout(total=self.timeout, connect=self.timeout)
            self.fs = fsspec.filesystem("http", skip_instance_cache=True, client_kwargs={"timeout": client_timeout})
        elif self.scheme == "s3":
            import s3fs

            parts = urlsplit(url)
            if not parts.netloc:
                raise InputError(f"registry {url}: an s3 URL needs a bucket (s3://bucket/prefix)")
            self.root = (parts.netloc + parts.path).rstrip("/")
            endpoint = s3_endpoint or os.environ.get(ENV_S3_ENDPOINT) or None
            self.fs = s3fs.S3FileSystem(
                endpoint_url=endpoint, skip_instance_cache=True, use_listings_cache=False,
                config_kwargs={"connect_timeout": self.timeout, "read_timeout": self.timeout,
                               "retries": {"max_attempts": 2, "mode": "standard"}})
            self.fs.retries = 2
        else:
            raise InputError(f"registry {url}: scheme {scheme!r} is not file, http, https or s3")

    @property
    def read_only(self) -> bool:
        return self.scheme in ("http", "https")

    def __repr__(self) -> str:
        return f"Remote({self.url!r})"

    # -- paths and calls -------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts) if self.scheme != "file" else os.path.join(self.root, *parts)

    def call(self, what: str, fn, *args, **kwargs):
        """Run an fsspec call, turning network failures into UnavailableError and 404s into NotFoundError."""
        try:
            return fn(*args, **kwargs)
        except (SeqzooError, FileExistsError):
            raise
        except FileNotFoundError as exc:
            # fsspec's http open reports a dead or silent server as a missing file: its cause says which
            cause = exc.__cause__
            unreachable = None if cause is None or getattr(cause, "status", None) == 404 else \
                self._unreachable(what, cause)
            raise unreachable or NotFoundError(f"{what}: not found in the registry {self.url}") from None
        except Exception as exc:  # aiohttp / botocore raise their own trees; keep the words
            unreachable = self._unreachable(what, exc)
            if unreachable is None:
                raise
            raise unreachable from None

    def _unreachable(self, what: str, exc: BaseException) -> UnavailableError | None:
        """The UnavailableError of a refused, silent or unreachable registry; None for anything else."""
        if isinstance(exc, PermissionError):
            return UnavailableError(f"{what}: the registry {self.url} refused access ({exc})")
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
            return UnavailableError(f"{what}: the registry {self.url} did not answer within {self.timeout:g} s "
                                    f"({type(exc).__name__})")
        if _is_network_error(exc):
            return UnavailableError(f"{what}: the registry {self.url} is unavailable "
                                    f"({type(exc).__name__}: {str(exc)[:200]})")
        return None

    def cat(self, *parts: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
        """A registry file's bytes, read no further than one byte past ``limit`` (a document that long
        is refused by parse_document: a crafted 2 GB index is never held in memory)."""
        where = "/".join(parts)
        self._regular(where, parts)

        def read():
            with self.fs.open(self.path(*parts), "rb", block_size=0 if self.read_only else CHUNK) as f:
                return f.read(limit + 1)

        return self.call(where, read)

    def _regular(self, where: str, parts: tuple[str, ...]) -> None:
        """A folder registry's file must be a regular file inside the folder - no link (to a file, a
        FIFO that would block the reader, or outside), no device - checked with lstat, never opened."""
        if self.scheme != "file":
            return
        path = self.path(*parts)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise NotFoundError(f"{where}: not found in the registry {self.url}") from None
        except OSError as exc:
            raise UnavailableError(f"{where}: the registry {self.url} cannot be read ({exc.strerror})") from None
        inside = os.path.realpath(path).startswith(os.path.realpath(self.root) + os.sep)
        if not stat.S_ISREG(mode) or not inside:
            raise IntegrityError(f"{self.url}/{where}: not a regular file of the registry (a link, FIFO or device); "
                                 "a registry serves its own files")

    def exists(self, *parts: str) -> bool:
        return bool(self.call("/".join(parts), self.fs.exists, self.path(*parts)))

    def download(self, parts: tuple[str, ...], target: Path, size: int) -> None:
        """Stream a remote file to ``target``, stopping one byte past ``size`` (a longer file is refused)."""
        where = "/".join(parts)
        self._regular(where, parts)

        def copy():
            # http: one streaming GET (block_size 0); static servers such as python -m http.server answer no
            # range requests, which a block-wise read of a file over one block needs
            block_size = 0 if self.read_only else CHUNK
            with self.fs.open(self.path(*parts), "rb", block_size=block_size) as src, open(target, "wb") as dst:
                left = size + 1
                while left > 0:
                    block = src.read(min(CHUNK, left))
                    if not block:
                        break
                    dst.write(block)
                    left -= len(block)

        self.call(where, copy)

    # -- listing ---------------------------------------------------------------------------------
    def index(self) -> dict:
        """The registry's stored index.json, checked against its schema (what an http registry
        lists; zoo.index.read_index builds it live for the others)."""
        try:
            data = self.cat(INDEX)
        except NotFoundError:
            raise NotFoundError(f"{self.url}/{INDEX} not found: an http registry needs an index "
                                "(run `seqzoo zoo index` on the served folder)") from None
        return parse_document(data, "index", f"{self.url}/{INDEX}", what="registry index")

    def names(self) -> list[str]:
        if self.read_only:
            return sorted(self.index()["models"])
        out = []
        for entry in self._ls(self.root):
            name = posixpath.basename(entry.rstrip("/"))
            try:
                validate_name(name)
            except InputError:
                continue
            out.append(name)
        return sorted(out)

    def versions(self, name: str) -> dict[int, str | None]:
        """``{version: digest or None}`` of the complete versions of ``name`` (digest known from an index)."""
        validate_name(name)
        if self.read_only:  # the index passed its schema: names, version numbers and digests are sound
            versions = self.index()["models"].get(name, {}).get("versions", {})
            return {int(v): e["digest"] for v, e in versions.items()}
        out = {}
        for entry in self._ls(self.path(name)):
            base = posixpath.basename(entry.rstrip("/"))
            if is_version(base) and self.exists(name, base, MANIFEST):
                out[int(base)] = None
        return dict(sorted(out.items()))

    def _ls(self, path: str) -> list[str]:
        try:
            return self.call(path, self.fs.ls, path, detail=False)
        except NotFoundError:
            return []

    def resolve(self, ref: Ref) -> tuple[int, bytes, str]:
        """(version, manifest bytes, digest) of a ref, checked against the pinned or indexed digest."""
        versions = self.versions(ref.name)
        manifests: dict[int, bytes] = {}

        def digest_of(version: int) -> str:
            manifests[version] = self.cat(ref.name, str(version), MANIFEST)
            return sha256_bytes(manifests[version])

        def missing(kind: str) -> NotFoundError:
            if kind == "model":
                return NotFoundError(f"{ref.name}: no such model in the registry {self.url} "
                                     f"(models: {', '.join(self.names()) or 'none'})")
            if kind == "version":
                return NotFoundError(f"{ref.name}: version {ref.version} not in the registry {self.url} "
                                     f"(versions {', '.join(map(str, versions))})")
            return NotFoundError(f"{ref.name}@{ref.digest}: no version with this digest in the registry {self.url}")

        version = choose_version(ref, versions, digest_of, missing)
        data = manifests.get(version) or self.cat(ref.name, str(version), MANIFEST)
        digest = sha256_bytes(data)
        if versions[version] and digest != versions[version]:
            raise IntegrityError(f"{self.url}/{ref.name}/{version}/{MANIFEST}: digest {digest} is not the "
                                 f"{versions[version]} of the registry's index (the manifest was changed)")
        return version, data, digest


def _is_network_error(exc: Exception) -> bool:
    names = {c.__name__ for c in type(exc).__mro__}
    modules = {c.__module__.split(".")[0] for c in type(exc).__mro__}
    return bool(names & {"ClientConnectorError", "ServerDisconnectedError", "ClientOSError", "ClientError",
                         "ConnectionError", "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                         "ConnectionClosedError", "NoCredentialsError"}) or "aiohttp" in modules \
        or isinstance(exc, ConnectionError)


def open_remote(url: str, timeout: float = DEFAULT_TIMEOUT, s3_endpoint: str | None = None) -> Remote:
    return Remote(url, timeout=timeout, s3_endpoint=s3_endpoint)


def remote_card(ref: str, registry_url: str, timeout: float = DEFAULT_TIMEOUT,
                s3_endpoint: str | None = None) -> dict:
    """A registry version's card without pulling the version: ``{"version": {name, version,
    digest}, "card": card, "files": {path: size}}``; the card's bytes are checked against the
    version's manifest (whose digest the ref or index pins) and against the card schema."""
    parsed = parse_ref(ref)
    remote = open_remote(registry_url, timeout, s3_endpoint)
    version, data, digest = remote.resolve(parsed)
    where = f"{remote.url}/{parsed.name}/{version}"
    manifest = parse_manifest(data, f"{where}/{MANIFEST}")
    entry = manifest["files"].get(CARD_FILE)
    if entry is None:
        raise IntegrityError(f"{where}: the version has no {CARD_FILE}")
    text = remote.cat(parsed.name, str(version), CARD_FILE)
    if len(text) != entry["size"] or sha256_bytes(text) != entry["sha256"]:
        raise IntegrityError(f"{where}/{CARD_FILE}: does not match the version's manifest (changed or corrupted)")
    card = validate_card(parse_document(text, None, f"{where}/{CARD_FILE}", "card"), f"{where}/{CARD_FILE}")
    return {"version": {"name": parsed.name, "version": version, "digest": digest}, "card": card,
            "files": {rel: e["size"] for rel, e in sorted(manifest["files"].items())}}


# ---------------------------------------------------------------------------------------------
# pull
# ---------------------------------------------------------------------------------------------
def pull(ref: str, registry_url: str, zoo: LocalZoo, timeout: float = DEFAULT_TIMEOUT,
         s3_endpoint: str | None = None) -> ModelVersion:
    """Copy a version from a registry into the local zoo, verifying every byte.

    Parameters
    ----------
    ref : str
        ``name``, ``name:latest``, ``name:3`` or ``name@sha256:<hex>``.
    registry_url : str
    zoo : LocalZoo
        The local zoo (cache) that receives the version under the same number.

    Returns
    -------
    ModelVersion
        The local copy. Raises IntegrityError (naming the file) for a tampered or truncated file,
        ConflictError if the local zoo holds a different artifact under that number.
    """
    ref = parse_ref(ref)
    remote = open_remote(registry_url, timeout, s3_endpoint)
    version, data, digest = remote.resolve(ref)
    where = f"{remote.url}/{ref.name}/{version}"
    manifest = parse_manifest(data, f"{where}/{MANIFEST}")
    if version in zoo.versions(ref.name):
        local = zoo.get(ref.name, version)
        if local.digest != digest:
            raise ConflictError(f"{ref.name}:{version} is already in the zoo {zoo.root} with digest {local.digest}, "
                                f"but the registry has {digest}; a published version never changes")
        verify_folder(local.path, digest)
        return local
    tmp = zoo.staging_folder(ref.name)
    try:
        for rel, entry in manifest["files"].items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            remote.download((ref.name, str(version), *rel.split("/")), target, entry["size"])
            check_file(target, entry, f"{where}/{rel}")
        (tmp / MANIFEST).write_bytes(data)
        verify_folder(tmp, digest)
        if not (tmp / CARD_FILE).is_file():
            raise IntegrityError(f"{where}: the version has no {CARD_FILE}")
        card = parse_document((tmp / CARD_FILE).read_bytes(), None, f"{where}/{CARD_FILE}", "card")
        validate_card(card, f"{where}/{CARD_FILE}")
        if card.get("name") != ref.name or card.get("version") != version:
            raise IntegrityError(f"{where}/{CARD_FILE}: card says {card.get('name')}:{card.get('version')}")
        return zoo.add_version(tmp, ref.name, version, digest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# push
# ---------------------------------------------------------------------------------------------
def push(ref: str, registry_url: str, zoo: LocalZoo, timeout: float = DEFAULT_TIMEOUT,
         s3_endpoint: str | None = None, claim_ttl: float = CLAIM_TTL) -> dict:
    """Upload a local version to a registry under the same version number.

    Returns
    -------
    dict
        ``{"name", "version", "digest", "registry", "status": "pushed" | "present"}``; "present"
        when the registry already holds this exact artifact. ConflictError when it holds another
        artifact under that number or another push holds the version's claim.
    """
    mv = zoo.verify(ref)
    remote = open_remote(registry_url, timeout, s3_endpoint)
    result = {"name": mv.name, "version": mv.version, "digest": mv.digest, "registry": remote.url}
    if remote.read_only:
        raise InputError(f"registry {remote.url} is read-only (http); push to an s3:// or file:// registry and "
                         "serve that folder with a rebuilt index")
    if remote.scheme == "file":
        remote_zoo = LocalZoo(remote.root)
        existing = remote_zoo.versions(mv.name)
        if mv.version in existing:
            return {**result, "status": _same_or_conflict(remote_zoo.get(mv.name, mv.version).digest, mv, remote)}
        tmp = remote_zoo.staging_folder(mv.name)
        try:
            for src in sorted(mv.path.rglob("*")):
                rel = src.relative_to(mv.path)
                if src.is_dir():
                    (tmp / rel).mkdir(parents=True, exist_ok=True)
                elif rel.as_posix() != MANIFEST:
                    shutil.copyfile(src, tmp / rel)
            shutil.copyfile(mv.path / MANIFEST, tmp / MANIFEST)  # the manifest last
            verify_folder(tmp, mv.digest)
            added = remote_zoo.add_version(tmp, mv.name, mv.version, mv.digest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return {**result, "status": "pushed" if added.digest == mv.digest else "present"}
    return {**result, "status": _push_object_store(mv, remote, claim_ttl)}


def _same_or_conflict(remote_digest: str, mv: ModelVersion, remote: Remote) -> str:
    if remote_digest == mv.digest:
        return "present"
    raise ConflictError(f"{mv.name}:{mv.version} already exists in the registry {remote.url} with digest "
                        f"{remote_digest}, not {mv.digest}; a published version never changes (publish a new "
                        "version locally and push that)")


def _push_object_store(mv: ModelVersion, remote: Remote, claim_ttl: float) -> str:
    name, version = mv.name, str(mv.version)
    if remote.exists(name, version, MANIFEST):
        return _same_or_conflict(sha256_bytes(remote.cat(name, version, MANIFEST)), mv, remote)
    _claim(remote, mv, claim_ttl)
    manifest_data = (mv.path / MANIFEST).read_bytes()
    manifest = parse_manifest(manifest_data, str(mv.path))
    for rel in manifest["files"]:
        remote.call(f"{name}/{version}/{rel}", remote.fs.put_file, str(mv.path / rel),
                    remote.path(name, version, *rel.split("/")))
    try:
        remote.call(f"{name}/{version}/{MANIFEST}", remote.fs.pipe_file, remote.path(name, version, MANIFEST),
                    manifest_data, mode="create")
    except FileExistsError:
        status = _same_or_conflict(sha256_bytes(remote.cat(name, version, MANIFEST)), mv, remote)
    else:
        status = "pushed"
    try:
        remote.call(f"{name}/{version}/{CLAIM}", remote.fs.rm_file, remote.path(name, version, CLAIM))
    except NotFoundError:
        pass
    return status


def _claim(remote: Remote, mv: ModelVersion, claim_ttl: float) -> None:
    """Take the version's create-only claim; ConflictError if a different live push holds it."""
    name, version = mv.name, str(mv.version)
    body = json.dumps({"digest": mv.digest, "time": time.time(), "host": socket.gethostname(),
                       "pid": os.getpid(), "token": uuid.uuid4().hex}).encode()
    path = remote.path(name, version, CLAIM)
    for _ in range(2):
        try:
            remote.call(f"{name}/{version}/{CLAIM}", remote.fs.pipe_file, path, body, mode="create")
            return
        except FileExistsError:
            pass
        try:
            held = parse_document(remote.cat(name, version, CLAIM), None, f"{name}/{version}/{CLAIM}", "claim")
            if not isinstance(held, dict):
                continue
        except (NotFoundError, IntegrityError):
            continue  # released or unreadable in between: try once more
        if held.get("digest") == mv.digest:
            return  # the same artifact (a resumed or parallel push of identical bytes): safe to write
        age = time.time() - float(held.get("time", 0))
        if age < claim_ttl:
            raise ConflictError(f"{name}:{version}: another push of a different artifact ({held.get('digest')}) "
                                f"holds the registry {remote.url} since {age:.0f} s ago; it wins. Publish "
                                "locally as a new version and push that")
        remote.call(path, remote.fs.rm_file, path)  # a stale claim of a killed push
    raise ConflictError(f"{name}:{version}: could not claim the version in {remote.url} (another push races)")


__all__ = ["Remote", "open_remote", "pull", "push", "remote_card"]
