"""The local zoo: ``<root>/<name>/<version>/{model.onnx, grad.onnx, ig.onnx, card.json, MANIFEST.json, ...}``.

Like a Triton model repository, the folder is the interface: ``ls`` shows what is there. A
version is an integer counting up per name; it is complete when its MANIFEST.json exists (the
manifest is written before the version folder appears) and it never changes afterwards.
Publishing builds the version under ``<root>/<name>/.tmp-<uuid>`` and renames it to its number;
the rename fails when another publisher took that number first, and the loser retries with the
next number, so two concurrent publishes both succeed with different versions. Remote
registries (``file://``, ``http(s)://``, ``s3://``) are in ``seqzoo.zoo.remote``; ``pull`` and
``push`` here are thin entry points to them.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from seqzoo.zoo.card import CARD_FILE, read_card, validate_card, write_card
from seqzoo.zoo.errors import ConflictError, InputError, IntegrityError, NotFoundError
from seqzoo.zoo.manifest import MANIFEST, sha256_bytes, verify_folder, write_manifest
from seqzoo.zoo.refs import Ref, choose_version, is_version, parse_ref, validate_name, validate_version

ENV_ZOO = "SEQZOO_ZOO"
STAGING_PREFIX = ".tmp-"
STALE_SECONDS = 24 * 3600
PUBLISH_ATTEMPTS = 1000

# stamp(folder, card): write the final card (name and version set) into the files that carry it
Stamp = Callable[[Path, dict], None]


@dataclass(frozen=True)
class ModelVersion:
    """One published version: where it is and what it is.

    Attributes
    ----------
    name : str
    version : int
    digest : str
        ``sha256:<hex>`` of the version's MANIFEST.json bytes.
    path : Path
        The version folder.
    card : dict
        The parsed card.json.
    """

    name: str
    version: int
    digest: str
    path: Path
    card: dict = field(repr=False, compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "digest": self.digest, "path": str(self.path)}


def default_root() -> Path:
    """``$SEQZOO_ZOO``, else ``zoo`` in the platform's user data folder (platformdirs; on Linux
    ``$XDG_DATA_HOME/seqzoo/zoo`` or ``~/.local/share/seqzoo/zoo``), as pip and Hugging Face keep their
    caches: never a folder relative to where the command runs (``./zoo`` is seqzoo's source in a checkout)."""
    import platformdirs

    return Path(os.environ.get(ENV_ZOO) or Path(platformdirs.user_data_dir("seqzoo", appauthor=False)) / "zoo")


def open_zoo(root: str | os.PathLike | None = None) -> LocalZoo:
    """The local zoo at ``root`` (default :func:`default_root`); the folder is made on first write."""
    return LocalZoo(Path(root) if root is not None else default_root())


class LocalZoo:
    """A zoo folder on this machine: publish, resolve, list, and accept verified pulls."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).absolute()  # absolute, so the paths it reports work from anywhere
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"zoo {self.root} exists and is not a folder")
        if (self.root / "__init__.py").exists():  # ./zoo in a seqzoo checkout is the source package
            raise InputError(f"zoo {self.root} is a Python package folder (the seqzoo source tree?): "
                             "give --zoo DIR or set $SEQZOO_ZOO")

    def __repr__(self) -> str:
        return f"LocalZoo({str(self.root)!r})"

    # -- reading -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Model names with at least one complete version, sorted."""
        if not self.root.is_dir():
            return []
        out = []
        for entry in sorted(self.root.iterdir()):
            try:
                validate_name(entry.name)
            except InputError:
                continue
            if entry.is_dir() and self.versions(entry.name):
                out.append(entry.name)
        return out

    def versions(self, name: str) -> list[int]:
        """The complete versions of ``name`` (folders with a MANIFEST.json), ascending."""
        folder = self.root / validate_name(name)
        if not folder.is_dir():
            return []
        found = []
        for entry in folder.iterdir():
            if is_version(entry.name) and (entry / MANIFEST).is_file():
                found.append(int(entry.name))
        return sorted(found)

    def version_path(self, name: str, version: int) -> Path:
        return self.root / validate_name(name) / str(validate_version(version))

    def get(self, name: str, version: int) -> ModelVersion:
        """A version by name and number; NotFoundError if it is not here."""
        path = self.version_path(name, version)
        try:
            data = (path / MANIFEST).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(self._missing(name, f"version {version}")) from None
        return ModelVersion(name, int(version), sha256_bytes(data), path, read_card(path))  # schema-checked

    def resolve(self, ref: str | Ref) -> ModelVersion:
        """Resolve ``name``, ``name:latest``, ``name:3`` or ``name@sha256:<hex>`` to a version here."""
        ref = parse_ref(ref) if isinstance(ref, str) else ref

        def digest_of(version: int) -> str:
            return sha256_bytes((self.version_path(ref.name, version) / MANIFEST).read_bytes())

        def missing(kind: str) -> NotFoundError:
            what = {"model": "the model", "version": f"version {ref.version}", "digest": f"digest {ref.digest}"}
            return NotFoundError(self._missing(ref.name, what[kind]))

        version = choose_version(ref, dict.fromkeys(self.versions(ref.name)), digest_of, missing)
        return self.get(ref.name, version)

    def list(self, name: str | None = None) -> list[ModelVersion]:
        """Every complete version (of one name, or of all), sorted by name then version."""
        names = [validate_name(name)] if name else self.names()
        return [self.get(n, v) for n in names for v in self.versions(n)]

    def verify(self, ref: str | Ref) -> ModelVersion:
        """Resolve ``ref`` and check every file against its manifest (IntegrityError names the file)."""
        return verify_version(self.resolve(ref))

    def _missing(self, name: str, what: str) -> str:
        versions = self.versions(name)
        have = (f"{name} has versions {', '.join(map(str, versions))}" if versions
                else f"models here: {', '.join(self.names()) or 'none'}")
        what = "no such model" if what == "the model" else f"{what} not found"
        return f"{name}: {what} in the zoo {self.root} ({have})"

    # -- writing -------------------------------------------------------------------------------
    def staging_folder(self, name: str) -> Path:
        """A fresh empty ``<root>/<name>/.tmp-<uuid>`` folder (same filesystem as the versions)."""
        parent = self.root / validate_name(name)
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        tmp.mkdir()
        return tmp

    def publish(self, staging_dir: str | os.PathLike, name: str, stamp: Stamp | None = None) -> ModelVersion:
        """Publish a folder of artifacts as the next version of ``name``; return it.

        The folder must hold a ``card.json`` (name and version are filled in here) and the
        graphs. It is copied (never moved or changed) into ``<root>/<name>/.tmp-<uuid>``, the
        card is stamped with the chosen version, MANIFEST.json is written, and the folder is
        renamed to the version number. If another publisher took that number first, the card is
        re-stamped with the next number and the rename retried.

        Parameters
        ----------
        staging_dir : path
            Folder of files to publish (regular files only).
        name : str
            The model name (validated: lower-case letters, digits, ``._-``).
        stamp : callable(folder, card), optional
            Writes the final card into files that carry a copy of it (the ONNX metadata);
            card.json itself is always written here.
        """
        name = validate_name(name)
        staging_dir = Path(staging_dir)
        if not (staging_dir / CARD_FILE).is_file():
            raise InputError(f"{staging_dir}: nothing to publish (no {CARD_FILE})")
        tmp = self.staging_folder(name)
        try:
            for src in sorted(staging_dir.rglob("*")):
                rel = src.relative_to(staging_dir)
                if src.is_symlink() or not (src.is_file() or src.is_dir()):
                    raise InputError(f"{src}: only regular files can be published")
                if rel.as_posix() == MANIFEST or rel.name.startswith(STAGING_PREFIX):
                    continue
                if src.is_dir():
                    (tmp / rel).mkdir(parents=True, exist_ok=True)
                else:
                    shutil.copyfile(src, tmp / rel)
            card = read_card(tmp, validate=False)
            version = max(self._taken(name), default=0) + 1
            for _ in range(PUBLISH_ATTEMPTS):
                card = {**card, "name": name, "version": version}
                write_card(card, tmp / CARD_FILE)
                if stamp is not None:
                    stamp(tmp, card)
                digest = write_manifest(tmp)
                target = self.root / name / str(version)
                if self._rename(tmp, target):
                    return ModelVersion(name, version, digest, target, card)
                version = max(max(self._taken(name), default=0), version) + 1
            raise ConflictError(f"{name}: could not claim a version number after {PUBLISH_ATTEMPTS} attempts")
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def add_version(self, folder: str | os.PathLike, name: str, version: int, digest: str) -> ModelVersion:
        """Move a verified folder (made by ``staging_folder``) into place as ``name:version``.

        Used by pull. If the version exists with the same digest, the existing one is kept;
        with another digest, ConflictError (a published version never changes).
        """
        folder = Path(folder)
        target = self.version_path(name, version)
        if not self._rename(folder, target):
            shutil.rmtree(folder, ignore_errors=True)
            existing = self.get(name, version)
            if existing.digest != digest:
                raise ConflictError(f"{name}:{version} is already in the zoo {self.root} with digest "
                                    f"{existing.digest}, not {digest}; a published version never changes")
            return existing
        return self.get(name, version)

    def clean_staging(self, max_age: float = STALE_SECONDS) -> list[Path]:
        """Remove ``.tmp-*`` folders older than ``max_age`` seconds (left by killed publishes)."""
        removed = []
        if not self.root.is_dir():
            return removed
        now = time.time()
        for tmp in self.root.glob(f"*/{STAGING_PREFIX}*"):
            if now - tmp.stat().st_mtime > max_age:
                shutil.rmtree(tmp, ignore_errors=True)
                removed.append(tmp)
        return removed

    def _taken(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return [int(e.name) for e in folder.iterdir() if is_version(e.name)]

    @staticmethod
    def _rename(src: Path, target: Path) -> bool:
        """Rename a non-empty folder onto ``target``; False if ``target`` already exists."""
        if target.exists():
            return False
        try:
            os.rename(src, target)
        except OSError as exc:
            # Linux refuses to rename onto an existing non-empty folder with ENOTEMPTY/EEXIST
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return False
            raise
        return True


def verify_version(mv: ModelVersion) -> ModelVersion:
    """The one full check of a zoo version, for ``zoo verify``, Dask jobs and ``serve`` alike: every
    file against the manifest, the card against its schema, and the card's name and version against
    the folder it sits in (a copy of pum2/1 as pum2/2 is refused). IntegrityError names the problem."""
    verify_folder(mv.path, mv.digest)
    validate_card(mv.card, str(mv.path / CARD_FILE))
    if mv.card.get("name") != mv.name or mv.card.get("version") != mv.version:
        raise IntegrityError(f"{mv.path / CARD_FILE}: card says {mv.card.get('name')}:{mv.card.get('version')} "
                             f"but the version is {mv.name}:{mv.version}")
    return mv
