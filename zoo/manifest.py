"""MANIFEST.json: the sha256 and size of every file of a version; its own sha256 is the digest.

The manifest is written last (after every file it lists), so a version with a manifest is
complete and a version without one is invisible. Its bytes are canonical (sorted keys, no
spaces varying), so the same files always give the same digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
from pathlib import Path

from seqzoo.zoo.errors import InputError, IntegrityError
from seqzoo.zoo.external_data import check_external_data
from seqzoo.zoo.io.atomic import write_bytes
from seqzoo.zoo.schemas import parse_document

MANIFEST = "MANIFEST.json"
MANIFEST_VERSION = 1
CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """``sha256:<hex>`` of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build_manifest(folder: str | os.PathLike) -> dict:
    """The manifest of every regular file under ``folder`` (relative POSIX paths, MANIFEST excluded).

    Returns
    -------
    dict
        ``{"manifest_version": 1, "files": {path: {"sha256": "sha256:...", "size": bytes}}}``
    """
    folder = Path(folder)
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel == MANIFEST or path.is_dir():
            continue
        if path.is_symlink() or not path.is_file():
            raise InputError(f"{path}: only regular files can be published (no links or devices)")
        files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return {"manifest_version": MANIFEST_VERSION, "files": files}


def manifest_bytes(manifest: dict) -> bytes:
    """Canonical bytes of a manifest (the digest is the sha256 of exactly these bytes)."""
    return (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode()


def write_manifest(folder: str | os.PathLike) -> str:
    """Write ``folder/MANIFEST.json`` atomically and return the version's digest."""
    data = manifest_bytes(build_manifest(folder))
    write_bytes(Path(folder) / MANIFEST, data)
    return sha256_bytes(data)


def parse_manifest(data: bytes, where: str) -> dict:
    """Parse manifest bytes and check them against the manifest's JSON Schema (safe relative paths,
    a sha256 and a size per file) and that no path is listed both as a file and as a folder;
    ``where`` names the source in errors (IntegrityError)."""
    manifest = parse_document(data, "manifest", where, what="MANIFEST.json")
    listed = set(manifest["files"])
    both = sorted(listed & _ancestors(listed))
    if both:
        raise IntegrityError(f"{where}: MANIFEST.json lists {both[0]!r} both as a file and as a folder")
    return manifest


def check_file(path: str | os.PathLike, entry: dict, name: str) -> None:
    """Raise IntegrityError if the file's size or sha256 differs from its manifest entry."""
    size = os.path.getsize(path)
    if size != entry["size"]:
        what = "truncated" if size < entry["size"] else "longer than recorded"
        raise IntegrityError(f"{name}: {what}: {size} bytes, the manifest says {entry['size']}")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise IntegrityError(f"{name}: sha256 {digest} does not match the manifest's {entry['sha256']} "
                             "(the file was changed or corrupted)")


def _ancestors(paths: set[str]) -> set[str]:
    """Every folder (relative, POSIX) that holds one of ``paths``."""
    out = set()
    for rel in paths:
        parent = posixpath.dirname(rel)
        while parent:
            out.add(parent)
            parent = posixpath.dirname(parent)
    return out


def _check_tree(folder: Path, files: set[str], folders: set[str]) -> None:
    """Refuse anything in a version folder but the regular files its manifest lists and the folders
    that hold them: symbolic links (to files or folders, inside or outside), FIFOs, sockets, devices,
    unlisted files and unlisted (also empty) folders."""
    for root, dirs, names in os.walk(folder, followlinks=False):
        for name in dirs + names:
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                raise IntegrityError(f"{path}: a symbolic link inside a version; a version holds its own files")
            if path.is_dir():
                if rel not in folders:
                    raise IntegrityError(f"{path}: a folder not in MANIFEST.json")
            elif not stat.S_ISREG(path.lstat().st_mode):
                raise IntegrityError(f"{path}: not a regular file (a FIFO, socket or device)")
            elif rel not in files:
                raise IntegrityError(f"{path}: present but not listed in MANIFEST.json")


def verify_folder(folder: str | os.PathLike, expected_digest: str | None = None) -> str:
    """Check every file of a version folder against its manifest; return the digest.

    Also refuses files that are present but not listed, and a manifest whose sha256 is not
    ``expected_digest`` (when given).
    """
    folder = Path(folder)
    if folder.is_symlink():
        raise IntegrityError(f"{folder}: the version folder is a symbolic link; a version holds its own files")
    try:
        data = (folder / MANIFEST).read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"{folder}: MANIFEST.json is missing") from None
    digest = sha256_bytes(data)
    if expected_digest and digest != expected_digest:
        raise IntegrityError(f"{folder / MANIFEST}: digest {digest} is not the expected {expected_digest}")
    manifest = parse_manifest(data, str(folder))
    listed = set(manifest["files"])
    _check_tree(folder, listed | {MANIFEST}, _ancestors(listed))
    for rel, entry in manifest["files"].items():
        path = folder / rel
        if not path.is_file():
            raise IntegrityError(f"{path}: listed in MANIFEST.json but missing")
        check_file(path, entry, str(path))
    # before ONNX Runtime ever opens a graph: its weights must be files this version lists beside it
    for rel in sorted(r for r in listed if r.endswith(".onnx")):
        here = posixpath.dirname(rel)
        check_external_data(folder / rel, {posixpath.basename(r) for r in listed if posixpath.dirname(r) == here})
    return digest
