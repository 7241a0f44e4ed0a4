"""A registry's index: what ``seqzoo zoo list``, ``search`` and an http registry's readers see.

``index.json`` at a registry's root lists every complete version of every model with its digest
and what a reader needs to choose one without downloading it: task, classes, description,
licence, tags, species, assembly, headline test metrics, the top motifs with their best database
match, the recipe that built it, and a deprecation mark. ``build_index`` reads it live from a
writable registry (a folder, s3); ``write_index`` stores it (and, for a folder, the browsable
``index.html`` beside it); an http registry serves the stored one.

Deprecation (``seqzoo zoo deprecate REF --reason TEXT``) never touches the version: the mark
lives in ``deprecations.json`` at the registry's root and is merged into the index, so the
version stays immutable and pullable by digest while ``list``, ``search`` and ``pull`` show it.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from seqzoo.zoo.card import CARD_FILE, positive_class, validate_card
from seqzoo.zoo.errors import InputError, IntegrityError, NotFoundError
from seqzoo.zoo.io.atomic import write_bytes
from seqzoo.zoo.manifest import MANIFEST, manifest_bytes, parse_manifest, sha256_bytes
from seqzoo.zoo.refs import parse_ref
from seqzoo.zoo.remote import DEFAULT_TIMEOUT, INDEX, Remote, open_remote
from seqzoo.zoo.schemas import parse_document

INDEX_VERSION = 1
DEPRECATIONS = "deprecations.json"
TOP_MOTIFS = 3


def headline(card: dict) -> dict:
    """The card's headline test numbers: a binary model's AUROC and AP of its positive class
    (``positive_class``), else the mean over classes, or a language model's test perplexity."""
    metrics = card.get("metrics") or {}
    if card.get("task") == "language_model":
        value = (metrics.get("perplexity") or {}).get("test")
        return {"perplexity": round(value, 4)} if isinstance(value, (int, float)) else {}
    out, positive = {}, positive_class(card)
    for key in ("auroc", "ap"):
        value = (metrics.get("test") or {}).get(key)
        if positive is not None and isinstance(value, dict) and positive in value:
            value = value[positive]
        numbers = [v for v in (value.values() if isinstance(value, dict) else [value]) if isinstance(v, (int, float))]
        if numbers:
            out[key] = round(sum(numbers) / len(numbers), 4)
    return out


def index_entry(card: dict, digest: str, size: int) -> dict:
    """One version's entry in the index (from its card)."""
    motifs = [{"id": m.get("id"), "consensus": m.get("consensus"), "match": (m.get("match") or {}).get("name"),
               "q_value": (m.get("match") or {}).get("q_value")} for m in (card.get("motifs") or [])[:TOP_MOTIFS]]
    return {"digest": digest, "created": card.get("created"), "task": card.get("task"),
            "classes": card.get("classes"), "size": size, "description": card.get("description"),
            "license": card.get("license"), "tags": card.get("tags") or [], "species": card.get("species"),
            "assembly": card.get("assembly"), "class_descriptions": card.get("class_descriptions") or {},
            "metrics": headline(card), "motifs": motifs,
            "matches": sorted({m["match"]["name"] for m in card.get("motifs") or [] if (m.get("match") or {}).get("name")}),
            "recipe": (card.get("recipe") or {}).get("name")}


def read_deprecations(remote: Remote) -> dict:
    """``{name: {version: {"reason", "date"}}}`` of a writable registry (empty when none)."""
    try:
        data = remote.cat(DEPRECATIONS)
    except NotFoundError:
        return {}
    return parse_document(data, "deprecations", f"{remote.url}/{DEPRECATIONS}", DEPRECATIONS)


def build_index(remote: Remote) -> dict:
    """The index of a writable registry: every complete version of every name, with its digest,
    card summary and deprecation mark."""
    deprecated = read_deprecations(remote)
    models = {}
    for name in remote.names():
        versions = {}
        for version in remote.versions(name):
            data = remote.cat(name, str(version), MANIFEST)
            manifest = parse_manifest(data, f"{remote.url}/{name}/{version}")
            card = {}
            if CARD_FILE in manifest["files"]:  # checked as pull would: a crafted card is refused, naming it
                where = f"{remote.url}/{name}/{version}/{CARD_FILE}"
                card = parse_document(remote.cat(name, str(version), CARD_FILE), None, where, "card")
                validate_card(card, where)
            entry = index_entry(card, sha256_bytes(data), sum(e["size"] for e in manifest["files"].values()))
            mark = deprecated.get(name, {}).get(str(version))
            if mark:
                entry["deprecated"] = {"reason": str(mark.get("reason", "")), "date": str(mark.get("date", ""))}
            versions[str(version)] = entry
        if versions:
            models[name] = {"versions": versions}
    return {"index_version": INDEX_VERSION,
            "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "models": models}


def _put(remote: Remote, name: str, data: bytes) -> None:
    if remote.scheme == "file":
        Path(remote.root).mkdir(parents=True, exist_ok=True)
        write_bytes(Path(remote.root) / name, data)
    else:
        remote.call(name, remote.fs.pipe_file, remote.path(name), data)  # one PUT: atomic on S3


def write_index(registry_url: str, timeout: float = DEFAULT_TIMEOUT, s3_endpoint: str | None = None,
                url: str | None = None) -> dict:
    """Rewrite ``index.json`` at the registry's root (a local folder or s3; atomically) and return
    it; a folder also gets ``index.html``, the browsable page of the same index (``url``: where the
    folder is served, for its pull commands)."""
    remote = open_remote(registry_url, timeout, s3_endpoint)
    if remote.read_only:
        raise InputError(f"registry {remote.url} is read-only (http): run `seqzoo zoo index` where the folder is")
    index = build_index(remote)
    if url is None and remote.exists(INDEX):  # keep the address an earlier `zoo index --url` gave
        try:
            url = parse_document(remote.cat(INDEX), "index", f"{remote.url}/{INDEX}").get("url")
        except IntegrityError:  # an earlier index that is not one: no address to keep
            url = None
    if url:
        index["url"] = url
    _put(remote, INDEX, manifest_bytes(index))
    if remote.scheme == "file":
        from seqzoo.zoo.index_html import write_page

        write_page(Path(remote.root), index, url)
    return index


def read_index(registry_url: str, timeout: float = DEFAULT_TIMEOUT, s3_endpoint: str | None = None) -> dict:
    """A registry's index: the stored index.json of an http registry, built live for the others."""
    remote = open_remote(registry_url, timeout, s3_endpoint)
    return remote.index() if remote.read_only else build_index(remote)


def deprecations_of(name: str, registry_url: str, timeout: float = DEFAULT_TIMEOUT,
                    s3_endpoint: str | None = None) -> dict[str, dict]:
    """``{version: {"reason", "date"}}`` of one model's deprecated versions: read from index.json (http)
    or deprecations.json (the others), both checked as any registry document; nothing else is read."""
    remote = open_remote(registry_url, timeout, s3_endpoint)
    if remote.read_only:
        versions = remote.index()["models"].get(name, {}).get("versions", {})
        return {v: e["deprecated"] for v, e in versions.items() if e.get("deprecated")}
    return read_deprecations(remote).get(name, {})


def list_remote(registry_url: str, timeout: float = DEFAULT_TIMEOUT, s3_endpoint: str | None = None) -> list[dict]:
    """Rows ``{"name", "version", "digest", ...}`` of every complete version in a registry."""
    return rows(read_index(registry_url, timeout, s3_endpoint))


def rows(index: dict) -> list[dict]:
    """The index as one row per version (name, version and the entry's fields), by name and version."""
    return [{"name": name, "version": int(v), **entry}
            for name, model in sorted(index["models"].items())
            for v, entry in sorted(model["versions"].items(), key=lambda kv: int(kv[0]))]


def deprecate(ref: str, reason: str, registry_url: str, timeout: float = DEFAULT_TIMEOUT,
              s3_endpoint: str | None = None) -> dict:
    """Mark a version deprecated in a writable registry (a zoo folder or s3) and rewrite its index
    where it has one; returns ``{"name", "version", "digest", "reason", "date"}``. The version's
    files are not touched."""
    if not reason or not reason.strip():
        raise InputError("--reason must say why the version is deprecated")
    remote = open_remote(registry_url, timeout, s3_endpoint)
    if remote.read_only:
        raise InputError(f"registry {remote.url} is read-only (http): deprecate where the folder is, then serve "
                         "its new index")
    version, _, digest = remote.resolve(parse_ref(ref))
    name = parse_ref(ref).name
    marks = read_deprecations(remote)
    mark = {"reason": reason.strip(), "date": datetime.date.today().isoformat()}
    marks.setdefault(name, {})[str(version)] = mark
    _put(remote, DEPRECATIONS, (json.dumps(marks, indent=1, sort_keys=True) + "\n").encode())
    if remote.exists(INDEX):
        write_index(registry_url, timeout, s3_endpoint)
    return {"name": name, "version": version, "digest": digest, **mark}


SEARCHED = ("name", "description", "tags", "classes", "class_descriptions", "motifs", "matches", "species",
            "assembly", "recipe")


def search(index: dict, text: str, every_version: bool = False) -> list[dict]:
    """Versions whose name, description, tags, classes (and their descriptions), motifs (the top
    ones' consensus, every motif's database match), species, assembly or recipe contain every word of ``text`` (any case);
    the latest matching version of each name unless ``every_version``. Each row has ``matched``:
    the fields where the words were found."""
    words = [w.lower() for w in text.split()]
    if not words:
        raise InputError("search text is empty")
    found = []
    for row in rows(index):
        fields = {key: json.dumps(row.get(key), ensure_ascii=False).lower() for key in SEARCHED}
        if all(any(w in value for value in fields.values()) for w in words):
            found.append({**row, "matched": sorted(k for k, v in fields.items() if any(w in v for w in words))})
    if every_version:
        return found
    latest = {}
    for row in found:
        latest[row["name"]] = row
    return list(latest.values())
