"""The catalogue and ``seqzoo zoo build``: recipes checked, trained in real processes, checked
against their expected metrics, published with their metadata, reused and skipped when done."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from seqzoo.training.build import build
from seqzoo.training.catalogue import read_catalogue
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.registry import open_zoo

from seqzoo.cli import main

RECIPE = {
    "name": "tiny", "description": "PUM2 sites vs other RBPs' sites (a small subset)", "command": "train",
    "dataset": {"files": ["datasets/tiny/train.pos.fa", "datasets/tiny/train.neg.fa", "datasets/tiny/test.pos.fa",
                          "datasets/tiny/test.neg.fa"],
                "source": "pysster's PUM2 set (datasets/rbp)", "license": "MIT", "citation": "Budach & Marsico 2018"},
    "license": "CC-BY-4.0", "citation": "seqzoo tests", "authors": ["seqzoo developers"], "tags": ["rbp", "test"],
    "species": "Homo sapiens", "assembly": "hg19",
    "classes": {"bound": "a PUM2 site", "unbound": "another RBP's site"},
    "options": {"class": ["bound=datasets/tiny/train.pos.fa", "unbound=datasets/tiny/train.neg.fa"],
                "test-class": ["bound=datasets/tiny/test.pos.fa", "unbound=datasets/tiny/test.neg.fa"],
                "kernel-num": 16, "neuron-num": 32, "epochs": 8, "batch-size": 64, "learning-rate": 0.003, "seed": 1,
                "motif-database": "attract"},
    "expect": [{"metric": "metrics.test.auroc.bound", "value": 0.0, "tolerance": 0.0}],
}


def write_recipe(folder: Path, recipe: dict) -> Path:
    path = folder / "catalogue" / f"{recipe['name']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def shop(tmp_path_factory, pum2_subset):
    """A repository-like folder: datasets/tiny (PUM2 subset) and catalogue/tiny.yaml."""
    root = tmp_path_factory.mktemp("shop")
    (root / "datasets" / "tiny").mkdir(parents=True)
    for split in ("train", "test"):
        sequences, labels = pum2_subset[split]
        for kind, column in (("pos", 1), ("neg", 0)):
            chosen = [s for s, y in zip(sequences, labels) if y[column] == 1]
            (root / "datasets" / "tiny" / f"{split}.{kind}.fa").write_text(
                "".join(f">{kind}{i}\n{s}\n" for i, s in enumerate(chosen)))
    write_recipe(root, RECIPE)
    return root


def test_recipes_are_checked_with_one_line_errors(shop, tmp_path):
    shutil.copytree(shop / "datasets", tmp_path / "datasets")
    cases = [
        ({**RECIPE, "name": "other"}, "differs from the file's name"),
        ({**RECIPE, "options": {**RECIPE["options"], "threads": 4}}, "options.threads: set by the build"),
        ({**RECIPE, "options": {**RECIPE["options"], "track": "region=datasets/tiny/region.fa"}},
         "reads datasets/tiny/region.fa, which dataset.files does not list"),
        ({**RECIPE, "dataset": {**RECIPE["dataset"], "files": ["datasets/tiny/missing.fa"]}}, "does not exist"),
        ({k: v for k, v in RECIPE.items() if k != "license"}, "'license' is a required property"),
    ]
    for recipe, message in cases:
        path = write_recipe(tmp_path, {**recipe, "name": "tiny"} if "differs" not in message else recipe)
        if "differs" in message:
            path = path.rename(path.with_name("tiny.yaml"))
        with pytest.raises(InputError) as info:
            read_catalogue(tmp_path / "catalogue")
        assert message in str(info.value) and "\n" not in str(info.value), str(info.value)
        path.unlink()
    with pytest.raises(InputError, match="--only nothing: no recipe"):
        read_catalogue(shop / "catalogue", ["nothing"])


BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)] + [
    "name: bomb", "description: *i"]) + "\n"  # 9^9 x's where a string belongs: its error message expands it


def test_a_recipe_never_reaches_outside_its_datasets(shop, tmp_path):
    """Issue 26, findings 2-4: an abbreviation of a build-owned option, paths outside datasets/ and
    a YAML alias bomb are refused when the recipe is read, before anything trains or is removed."""
    shutil.copytree(shop / "datasets", tmp_path / "datasets")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    outside = tmp_path / "elsewhere.fa"
    outside.write_text((shop / "datasets" / "tiny" / "train.pos.fa").read_text())
    (tmp_path / "datasets" / "tiny" / "link.fa").symlink_to(outside)
    files = RECIPE["dataset"]["files"]
    cases = [
        ({**RECIPE, "options": {**RECIPE["options"], "ou": str(precious)}}, "options.ou: not an option of seqzoo train"),
        ({**RECIPE, "options": {**RECIPE["options"], "class": [f"bound={outside}", "unbound=datasets/tiny/train.neg.fa"]}},
         f"reads {outside}, which dataset.files does not list"),
        ({**RECIPE, "options": {**RECIPE["options"], "class": ["bound=datasets/../elsewhere.fa",
                                                               "unbound=datasets/tiny/train.neg.fa"]}},
         "reads datasets/../elsewhere.fa, which dataset.files does not list"),
        ({**RECIPE, "dataset": {**RECIPE["dataset"], "files": [*files, "datasets/../elsewhere.fa"]}},
         "dataset file datasets/../elsewhere.fa is not a plain path under"),
        ({**RECIPE, "dataset": {**RECIPE["dataset"], "files": [*files, "datasets/tiny/link.fa"]}},
         "dataset file datasets/tiny/link.fa is not a plain path under"),
    ]
    for recipe, message in cases:
        path = write_recipe(tmp_path, recipe)
        with pytest.raises(InputError) as info:
            read_catalogue(tmp_path / "catalogue")
        assert message in str(info.value) and "\n" not in str(info.value), str(info.value)
        path.unlink()
    # the build command itself: refused in one line, the folder untouched
    write_recipe(tmp_path, {**RECIPE, "options": {**RECIPE["options"], "ou": str(precious)}})
    assert main(["zoo", "build", str(tmp_path / "catalogue"), "--zoo", str(tmp_path / "zoo"),
                 "--work", str(tmp_path / "w")]) == 2
    assert (precious / "keep.txt").read_text() == "mine"
    # no parser takes an abbreviation: --ou is not --out
    with pytest.raises(SystemExit):
        main(["train", "--ou", str(precious), "--class", "a=x.fa"])
    assert (precious / "keep.txt").read_text() == "mine"
    # a 405-byte alias bomb (issue 26 found one of 499): refused at its first alias, in one line, at once
    path = tmp_path / "catalogue" / "tiny.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 500
    with pytest.raises(InputError, match=r"tiny.yaml:2: YAML aliases \(\*a\) are not allowed"):
        read_catalogue(tmp_path / "catalogue")


def test_build_checks_publishes_reuses_and_skips(shop, tmp_path):
    zoo, work, lines = open_zoo(tmp_path / "zoo"), tmp_path / "work", []
    # 1. a provisional expectation: trained, reported outside tolerance, nothing published
    [first] = build(read_catalogue(shop / "catalogue"), zoo, work, threads=1, log=lines.append)
    assert first["status"] == "outside tolerance" and zoo.list() == []
    measured = first["checks"][0]["value"]
    assert 0.6 < measured <= 1.0 and (work / "tiny" / "build-summary.json").is_file()
    # 2. the measured expectation: the kept run is checked again and published, not retrained
    recipe = {**RECIPE, "expect": [{"metric": "metrics.test.auroc.bound", "value": measured, "tolerance": 0.001}]}
    write_recipe(shop, recipe)
    [second] = build(read_catalogue(shop / "catalogue"), zoo, work, threads=1, log=lines.append)
    assert second["status"] == "published" and second["seconds"] == first["seconds"]
    assert any("reusing the kept run" in line for line in lines)
    mv = zoo.resolve("tiny")
    card = mv.card
    assert card["license"] == "CC-BY-4.0" and card["citation"] == "seqzoo tests" and card["tags"] == ["rbp", "test"]
    assert card["class_descriptions"] == {"bound": "a PUM2 site", "unbound": "another RBP's site"}
    assert card["dataset"]["license"] == "MIT" and card["species"] == "Homo sapiens"
    assert {f["path"] for f in card["training"]["files"]} <= set(RECIPE["dataset"]["files"])  # as the recipe names them
    assert card["recipe"] == {"name": "tiny", "digest": read_catalogue(shop / "catalogue")[0].digest}
    files = {p.name for p in mv.path.iterdir()}
    assert "report.html" not in files and "weights.bin" in files
    # 3. built already: skipped
    [third] = build(read_catalogue(shop / "catalogue"), zoo, work, threads=1, log=lines.append)
    assert third["status"] == "up to date" and third["digest"] == mv.digest
    # 4. deterministic on CPU: trained again from scratch, the same metric
    shutil.rmtree(work)
    [again] = build(read_catalogue(shop / "catalogue"), open_zoo(tmp_path / "zoo2"), work, threads=1,
                    log=lines.append)
    assert again["status"] == "published" and abs(again["checks"][0]["value"] - measured) < 1e-6
    # 5. the command: exit 0 when everything is up to date, one JSON list with --json
    assert main(["zoo", "build", str(shop / "catalogue"), "--zoo", str(tmp_path / "zoo"), "--work", str(work),
                 "--jobs", "1", "--threads", "1", "--json"]) == 0


def test_build_reports_failed_recipes_and_goes_on(shop, tmp_path, capsys):
    bad = {**RECIPE, "name": "broken", "options": {**RECIPE["options"], "kernel-num": 0}}
    typo = {**RECIPE, "name": "typo", "expect": [{"metric": "metrics.test.auroc.nosuch", "value": 0.9,
                                                  "tolerance": 0.01}]}
    folder = tmp_path / "cat"
    shutil.copytree(shop / "datasets", tmp_path / "datasets")
    write_recipe(tmp_path, bad)
    write_recipe(tmp_path, typo)
    (tmp_path / "catalogue").rename(folder)
    assert main(["zoo", "build", str(folder), "--zoo", str(tmp_path / "zoo"), "--work", str(tmp_path / "w"),
                 "--json"]) == 1
    broken, wrong = json.loads(capsys.readouterr().out)
    assert broken["status"] == "failed" and "kernel" in broken["error"]
    assert wrong["status"] == "failed" and "'metrics.test.auroc.nosuch' is not in the run's summary" in wrong["error"]
    assert open_zoo(tmp_path / "zoo").list() == []
