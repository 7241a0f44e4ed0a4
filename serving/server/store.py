"""The model store: which versions the server holds, loaded, warmed up and batched.

Models come from the local zoo, or are pulled from ``--registry URL`` into it (every file
checked against the version's manifest either way). A version reports SERVING only after its
engine is loaded and warmed up. A poller looks for new versions every few seconds and hot-loads
them beside the old ones; a version that fails to load or verify is logged and skipped, and the
version already serving keeps serving. The newest ``keep`` versions of each followed name stay
loaded (so ``name:3`` keeps working during a roll-out); pinned refs (``--models pum2:3``) stay
forever and are never replaced.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from seqzoo.serving.engine import Engine
from seqzoo.serving.server.batcher import AttributionLane, Batcher, BatcherSettings
from seqzoo.zoo.errors import InputError, NotFoundError, SeqzooError
from seqzoo.zoo.refs import choose_version, parse_ref
from seqzoo.zoo.registry import open_zoo, verify_version
from seqzoo.zoo.remote import pull

log = logging.getLogger(__name__)


@dataclass
class Served:
    """One loaded version: its engine, its scoring batcher and its attribution lane."""

    engine: Engine
    batcher: Batcher
    lane: AttributionLane
    pinned: bool = False
    info: dict = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return self.engine.identity.ref

    def close(self) -> None:
        self.lane.close()
        self.batcher.close()


@dataclass
class StoreSettings:
    """How the store loads models.

    Attributes
    ----------
    device : {"auto", "cpu", "cuda"}
    threads : int or None
        ONNX Runtime intra-op threads per session.
    batcher : BatcherSettings
    keep : int
        Newest versions of each followed name kept loaded.
    """

    device: str = "auto"
    threads: int | None = None
    batcher: BatcherSettings = field(default_factory=BatcherSettings)
    keep: int = 2


class ModelStore:
    """Loaded model versions, by name and version, with polling for new ones.

    Parameters
    ----------
    zoo_root : str or Path
        The local zoo folder (pulled versions land here too).
    models : list of str, optional
        Refs to serve: ``name`` (follow its latest version) or ``name:3`` / ``name@sha256:..``
        (pinned). Default: every name in the zoo, and names that appear later.
    registry : str, optional
        A remote registry URL; followed names are pulled from it at start and at every poll.
    settings : StoreSettings
    on_change : callable, optional
        ``on_change(served, serving: bool)`` when a version starts or stops serving (health).
    observer : callable, optional
        ``observer(name, version, batcher) -> observe hook`` for the batcher (metrics).
    """

    def __init__(self, zoo_root, models: list[str] | None = None, registry: str | None = None,
                 settings: StoreSettings | None = None,
                 on_change: Callable[[Served, bool], None] | None = None,
                 observer: Callable | None = None):
        self.zoo = open_zoo(zoo_root)
        self.registry = registry
        self.settings = settings or StoreSettings()
        self.on_change = on_change
        self.observer = observer
        self.follow: list[str] = []
        self.pins: list[str] = []
        for ref in models or []:
            parsed = parse_ref(ref)
            (self.follow if parsed.version is None and parsed.digest is None else self.pins).append(ref)
        self.follow_all = not models
        self._served: dict[tuple[str, int], Served] = {}
        self._cache: dict[str, Served] = {}
        self._failed: set[str] = set()  # digests that failed: not retried at every poll
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # ------------------------------------------------------------------ lookup
    def get(self, ref: str) -> Served:
        """The loaded version a ref names (``name`` and ``name:latest`` mean the newest loaded).

        Raises
        ------
        InputError
            A malformed ref.
        NotFoundError
            A model or version this server does not hold.
        """
        served = self._cache.get(ref)
        if served is not None:
            return served
        parsed = parse_ref(ref)
        with self._lock:
            versions = {v: s.engine.identity.digest for (n, v), s in self._served.items() if n == parsed.name}

            def missing(kind: str) -> NotFoundError:
                if kind == "model":
                    held = sorted({n for (n, _) in self._served})
                    return NotFoundError(f"model {parsed.name!r} is not served here (serving: "
                                         f"{', '.join(held) or 'nothing'})")
                if kind == "version":
                    return NotFoundError(f"model {parsed.name!r} version {parsed.version} is not served here "
                                         f"(served versions: {', '.join(map(str, sorted(versions)))})")
                return NotFoundError(f"model {parsed.name!r} has no served version with digest {parsed.digest}")

            served = self._served[(parsed.name, choose_version(parsed, versions, versions.get, missing))]
            if len(self._cache) < 10000:
                self._cache[ref] = served
            return served

    def label(self, ref: str) -> str:
        """The metrics label for a ref a client sent: its model name when this store serves that name,
        ``unknown`` otherwise (a client never creates label values), ``-`` when it sent none."""
        if not ref:
            return "-"
        name = ref.partition("@")[0].partition(":")[0]
        with self._lock:
            return name if any(n == name for n, _ in self._served) else "unknown"

    def list(self) -> list[Served]:
        with self._lock:
            return [self._served[k] for k in sorted(self._served)]

    # ------------------------------------------------------------------ loading
    def _load(self, mv, pinned: bool) -> Served | None:
        key = (mv.name, mv.version)
        with self._lock:
            if key in self._served:
                if pinned:
                    self._served[key].pinned = True
                return self._served[key]
        if mv.digest in self._failed:
            return None
        try:
            verify_version(mv)
            engine = Engine.load(mv, device=self.settings.device, threads=self.settings.threads, warmup=True)
        except Exception as exc:  # noqa: BLE001 - a broken version never takes down the ones serving
            self._failed.add(mv.digest)
            log.error("could not load %s: %s", mv.ref, exc, extra={"model": mv.name, "version": mv.version})
            return None
        batcher = Batcher(engine, self.settings.batcher, name=f"batch-{mv.ref}")
        if self.observer is not None:
            batcher.observe = self.observer(mv.name, mv.version, batcher)
        served = Served(engine, batcher, AttributionLane(batcher, name=f"attr-{mv.ref}"), pinned,
                        engine.describe())
        with self._lock:
            self._served[key] = served
            self._cache = {}
        log.info("serving %s (%s, %s)", mv.ref, engine.provider, mv.digest,
                 extra={"model": mv.name, "version": mv.version, "digest": mv.digest, "provider": engine.provider})
        if self.on_change is not None:
            self.on_change(served, True)
        return served

    def _evict(self, name: str) -> None:
        with self._lock:
            followed = sorted((v for (n, v), s in self._served.items() if n == name and not s.pinned), reverse=True)
            old = [self._served.pop((name, v)) for v in followed[self.settings.keep:]]
            if old:
                self._cache = {}
        for served in old:
            log.info("unloading %s", served.ref, extra={"model": name, "version": served.engine.identity.version})
            if self.on_change is not None:
                self.on_change(served, False)
            served.close()

    def _names(self) -> list[str]:
        if self.follow_all:
            return self.zoo.names()
        return [parse_ref(r).name for r in self.follow]

    def poll_once(self) -> list[str]:
        """Pull (with a registry) and load any version newer than what is served; returns the refs loaded."""
        loaded = []
        for ref in self.pins:
            mv = self._find(ref)
            if mv is not None and self._load(mv, pinned=True) is not None and mv.ref not in loaded:
                loaded.append(mv.ref)
        for name in self._names():
            mv = self._find(f"{name}:latest")
            if mv is None:
                continue
            had = (mv.name, mv.version) in self._served
            if self._load(mv, pinned=False) is not None and not had:
                loaded.append(mv.ref)
                self._evict(name)
        return loaded

    def _find(self, ref: str):
        try:
            if self.registry:
                return pull(ref, self.registry, self.zoo)
            return self.zoo.resolve(ref)
        except SeqzooError as exc:
            log.error("cannot resolve %s: %s", ref, exc, extra={"ref": ref})
            return None

    def start(self, poll_seconds: float | None = None) -> None:
        """Load every selected model (warm), then poll every ``poll_seconds`` in a thread.

        Raises
        ------
        NotFoundError
            When nothing could be loaded (a server with no models is a configuration error).
        """
        self.poll_once()
        if not self._served:
            want = ", ".join(self.follow + self.pins) or f"any model in {self.zoo.root}"
            raise NotFoundError(f"no model could be loaded ({want}); see the log for why")
        if poll_seconds:
            if poll_seconds <= 0:
                raise InputError(f"poll interval must be positive, got {poll_seconds}")
            self._poller = threading.Thread(target=self._poll_loop, args=(poll_seconds,), name="zoo-poller",
                                            daemon=True)
            self._poller.start()

    def _poll_loop(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            try:
                self.poll_once()
            except Exception:
                log.exception("polling the zoo failed; serving what is loaded")

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(5)
        with self._lock:
            served, self._served, self._cache = list(self._served.values()), {}, {}
        for s in served:
            s.close()
