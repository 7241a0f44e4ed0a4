"""``seqzoo zoo``: list, show, search, verify, pull, push, index, deprecate and export zoo models (also as
a Triton repository).

Tables for people, ``--json`` for pipelines. The local zoo is ``--zoo DIR`` (default
``$SEQZOO_ZOO``, else the user data folder); remote registries are URLs (``file://``, ``http(s)://``, ``s3://``
with ``--s3-endpoint`` or ``$SEQZOO_S3_ENDPOINT``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

ACTIONS = ("list", "show", "search", "verify", "pull", "push", "index", "deprecate", "export-triton")


def add_arguments(parser: argparse.ArgumentParser, extra: dict | None = None) -> None:
    """The zoo actions, plus ``extra`` ones from other wings: name -> a module with ``HELP``,
    ``add_arguments(parser)`` and ``run(args, zoo) -> int`` (``export`` comes from training)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--zoo", metavar="DIR", default=None, help="local zoo folder (default $SEQZOO_ZOO, else the user data folder)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--timeout", type=float, default=30.0, metavar="S",
                        help="seconds per registry operation before giving up (default 30)")
    common.add_argument("--s3-endpoint", metavar="URL", default=None,
                        help="S3 endpoint URL (default $SEQZOO_S3_ENDPOINT, else AWS)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("list", parents=[common], help="list model versions (local, or of a registry)")
    p.add_argument("--registry", metavar="URL", help="list a remote registry instead of the local zoo")
    p.add_argument("name", nargs="?", help="only this model")
    p = sub.add_parser("show", parents=[common], help="show a version's model card (local, or of a registry)")
    p.add_argument("ref", help="name, name:latest, name:3 or name@sha256:...")
    p.add_argument("--registry", metavar="URL", help="show a version of a remote registry (its card is checked "
                   "against the version's manifest)")
    p = sub.add_parser("search", parents=[common], help="find models by name, description, tags, classes, species "
                       "or motif matches")
    p.add_argument("text", nargs="+", help="words that must all occur (any case)")
    p.add_argument("--registry", metavar="URL", help="search a remote registry instead of the local zoo")
    p.add_argument("--all", action="store_true", help="every matching version, not only the latest of each model")
    p = sub.add_parser("verify", parents=[common], help="check digests and re-run the card's expect entries")
    p.add_argument("ref")
    p = sub.add_parser("pull", parents=[common], help="copy a version from a registry into the local zoo")
    p.add_argument("ref")
    p.add_argument("--registry", metavar="URL", default=None,
                   help="default $SEQZOO_REGISTRY, else the shipped registry (README: Pretrained models)")
    p = sub.add_parser("push", parents=[common], help="upload a local version to a registry")
    p.add_argument("ref")
    p.add_argument("--registry", metavar="URL", required=True)
    p = sub.add_parser("index", parents=[common], help="rewrite index.json (and a folder's index.html) of a zoo "
                       "folder or registry (for http)")
    p.add_argument("--registry", metavar="URL", help="registry to index (default: the local zoo)")
    p.add_argument("--url", help="where the folder is served (the pull commands of index.html; kept from the last "
                   "index when omitted)")
    p = sub.add_parser("deprecate", parents=[common], help="mark a version deprecated in the index (its files stay "
                       "immutable and pullable by digest)")
    p.add_argument("ref")
    p.add_argument("--reason", required=True, help="why (shown by list, search, pull and index.html)")
    p.add_argument("--registry", metavar="URL", help="a writable registry (default: the local zoo)")
    p = sub.add_parser("export-triton", parents=[common], help="write a Triton model repository (config.pbtxt, "
                       "<version>/model.onnx) of zoo versions")
    p.add_argument("refs", nargs="+", metavar="REF", help="versions to export (several versions of a name: one model)")
    p.add_argument("out", metavar="OUTDIR", help="the repository folder (created; other models in it are kept)")
    p.add_argument("--max-batch-size", type=int, default=4096, help="Triton's max_batch_size (default 4096)")
    p.add_argument("--preferred-batch-sizes", default="256,1024",
                   help="dynamic batching's preferred sizes (default 256,1024)")
    p.add_argument("--max-queue-delay-us", type=int, default=2000,
                   help="how long Triton waits to fill a batch, microseconds (default 2000)")
    for name, module in (extra or {}).items():
        p = sub.add_parser(name, parents=[common], help=module.HELP)
        module.add_arguments(p)
        p.set_defaults(extra_run=module.run)


def run(args: argparse.Namespace) -> int:
    from seqzoo.zoo.registry import open_zoo

    remote_only = args.action in ("list", "show", "search", "index", "deprecate") and getattr(args, "registry", None)
    zoo = None if remote_only else open_zoo(args.zoo)  # a registry's listing needs no local zoo
    if getattr(args, "extra_run", None) is not None:
        return args.extra_run(args, zoo)
    options = {"timeout": args.timeout, "s3_endpoint": args.s3_endpoint}
    return {"list": _list, "show": _show, "search": _search, "verify": _verify, "pull": _pull, "push": _push,
            "index": _index, "deprecate": _deprecate, "export-triton": _export_triton}[args.action](args, zoo, options)


# -- output -----------------------------------------------------------------------------------
def table(rows: list[dict], columns: list[str]) -> str:
    """A plain text table: a header and one line per row, columns padded to width."""
    cells = [[str(c).upper() for c in columns]] + [["" if r.get(c) is None else str(r.get(c)) for c in columns]
                                                   for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in cells)


def emit(args, payload, text: str) -> None:
    """Print ``payload`` as JSON with ``--json``, else ``text``."""
    print(json.dumps(payload, indent=1, sort_keys=True) if args.json else text)


def _short(digest: str | None) -> str | None:
    return digest[:19] if digest else digest


def _index_of(args, zoo, options) -> dict:
    """The index of ``--registry``, else of the local zoo folder."""
    from seqzoo.zoo.index import read_index

    if getattr(args, "registry", None):
        return read_index(args.registry, **options)
    return read_index(str(zoo.root), **options) if zoo.root.is_dir() else {"models": {}}


def _shown_rows(rows: list[dict]) -> list[dict]:
    return [{**r, "digest": _short(r.get("digest")), "classes": ",".join(r.get("classes") or []),
             "auroc": (r.get("metrics") or {}).get("auroc"),
             "deprecated": (r.get("deprecated") or {}).get("reason")} for r in rows]


# -- actions ------------------------------------------------------------------------------------
def _list(args, zoo, options) -> int:
    from seqzoo.zoo.index import rows

    found = [r for r in rows(_index_of(args, zoo, options)) if not args.name or r["name"] == args.name]
    emit(args, found, table(_shown_rows(found), ["name", "version", "digest", "created", "task", "classes", "auroc",
                                                  "deprecated"]) if found else "no models")
    return 0


def _search(args, zoo, options) -> int:
    from seqzoo.zoo.index import search

    text = " ".join(args.text)
    found = search(_index_of(args, zoo, options), text, every_version=args.all)
    shown = [{**r, "matched": ",".join(r["matched"]), "description": (r.get("description") or "")[:60]}
             for r in _shown_rows(found)]
    emit(args, found, table(shown, ["name", "version", "task", "auroc", "matched", "deprecated", "description"])
         if found else f"no model matches {text!r}")
    return 0


def _show(args, zoo, options) -> int:
    if args.registry:
        from seqzoo.zoo.remote import remote_card

        found = remote_card(args.ref, args.registry, **options)
        head, card, files = found["version"], found["card"], found["files"]
    else:
        mv = zoo.resolve(args.ref)
        head, card = mv.to_dict(), mv.card
        files = {p.name: p.stat().st_size for p in sorted(mv.path.iterdir()) if p.is_file()}
    if args.json:
        print(json.dumps({**head, "card": card}, indent=1, sort_keys=True))
        return 0
    inp = card.get("input", {})
    alphabet = inp.get("alphabet", {})
    structure = inp.get("structure")
    lines = [
        f"{head['name']}:{head['version']}   {head['digest']}",
        f"  {card.get('description', '')}",
        f"created      {card.get('created')}   licence {card.get('license') or 'not stated'}",
        f"citation     {card.get('citation') or 'not stated'}",
        f"task         {card.get('task')}: {', '.join(card.get('classes', []))} ({card['output']['activation']})",
        f"input        {alphabet.get('name')} {alphabet.get('letters')}"
        + (f" x {structure['form']} structure ({structure['predictor']} {structure.get('version')})" if structure
           else "")
        + f", length {inp.get('length')}{' (any length)' if inp.get('length_dynamic') else ' (fixed)'}"
        + f", unknown -> {inp.get('unknown')}",
        (f"parity       forward {card['parity']['forward']:.2g}, gradient {card['parity']['gradient']:.2g}, "
         f"IG {card['parity']['ig']:.2g}"),
    ]
    test = (card.get("metrics") or {}).get("test") or {}
    for key in ("auroc", "ap"):
        if isinstance(test.get(key), dict):
            lines.append(f"test {key:<7} " + ", ".join(f"{c} {v:.3f}" for c, v in test[key].items()
                                                        if isinstance(v, (int, float))))
    motifs = card.get("motifs") or []
    if motifs:
        lines.append(f"motifs       {len(motifs)}: " + ", ".join(
            f"{m['consensus']}" + (f" ({m['match']['name']})" if m.get("match") else "") for m in motifs[:5]))
    for key in ("species", "assembly", "authors", "tags"):
        value = card.get(key)
        if value:
            lines.append(f"{key:<12} {', '.join(value) if isinstance(value, list) else value}")
    for name, text in (card.get("class_descriptions") or {}).items():
        lines.append(f"class        {name}: {text}")
    if card.get("dataset"):
        lines.append(f"dataset      {card['dataset'].get('source', '')} (licence "
                     f"{card['dataset'].get('license') or 'not stated'})")
    lines.append("files        " + ", ".join(f"{name} ({size / 1024:.0f} KiB)" for name, size in files.items()))
    if not args.registry:
        lines.append(f"path         {mv.path}")
    print("\n".join(lines))
    return 0


def _verify(args, zoo, options) -> int:
    from seqzoo.zoo.expect import check_embedded_cards, check_expect

    mv = zoo.verify(args.ref)
    check_embedded_cards(mv.path, mv.card)
    worst = check_expect(mv.path, mv.card)
    payload = {**mv.to_dict(), "files": len(list(mv.path.iterdir())), "expect_entries": len(mv.card["expect"]),
               "expect_max_error": worst, "ok": True}
    emit(args, payload, f"{mv.name}:{mv.version} OK: {payload['files']} files match {mv.digest}; "
                         f"{payload['expect_entries']} expect entries reproduced (max error {worst:.2g})")
    return 0


def _pull(args, zoo, options) -> int:
    from seqzoo.zoo.index import deprecations_of
    from seqzoo.zoo.refs import parse_ref
    from seqzoo.zoo.remote import default_registry, pull

    registry = args.registry or default_registry()
    start = time.perf_counter()
    deprecated = deprecations_of(parse_ref(args.ref).name, registry, **options)  # read before anything is copied
    mv = pull(args.ref, registry, zoo, **options)
    if str(mv.version) in deprecated:
        print(f"seqzoo zoo pull: {mv.name}:{mv.version} is deprecated: {deprecated[str(mv.version)]['reason']}",
              file=sys.stderr)
    payload = {**mv.to_dict(), "registry": registry, "seconds": round(time.perf_counter() - start, 3)}
    emit(args, payload, f"pulled {mv.name}:{mv.version} ({mv.digest}) into {mv.path}")
    return 0


def _push(args, zoo, options) -> int:
    from seqzoo.zoo.remote import push

    result = push(args.ref, args.registry, zoo, **options)
    verb = "pushed" if result["status"] == "pushed" else "already present:"
    emit(args, result, f"{verb} {result['name']}:{result['version']} ({result['digest']}) to {result['registry']}")
    return 0


def _index(args, zoo, options) -> int:
    from seqzoo.zoo.index import write_index

    target = args.registry or str(zoo.root)
    index = write_index(target, url=args.url, **options)
    count = sum(len(m["versions"]) for m in index["models"].values())
    emit(args, index, f"wrote {target.rstrip('/')}/index.json: {len(index['models'])} models, {count} versions")
    return 0


def _deprecate(args, zoo, options) -> int:
    from seqzoo.zoo.index import deprecate

    mark = deprecate(args.ref, args.reason, args.registry or str(zoo.root), **options)
    emit(args, mark, f"deprecated {mark['name']}:{mark['version']} ({mark['digest']}): {mark['reason']}")
    return 0


def _export_triton(args, zoo, options) -> int:
    from seqzoo.zoo.errors import InputError
    from seqzoo.zoo.triton import export_repository

    try:
        preferred = tuple(int(x) for x in args.preferred_batch_sizes.split(",") if x.strip())
    except ValueError:
        raise InputError(f"--preferred-batch-sizes {args.preferred_batch_sizes!r} is not a list of integers") from None
    versions = [zoo.verify(ref) for ref in args.refs]  # digests checked before anything is copied
    written = export_repository(versions, args.out, args.max_batch_size, preferred, args.max_queue_delay_us)
    emit(args, {"out": args.out, "models": written},
         "\n".join(f"{args.out}/{name}: versions {', '.join(map(str, info['versions']))} (config.pbtxt, labels.txt)"
                   for name, info in written.items()))
    return 0
