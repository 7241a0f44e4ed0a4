"""``seqzoo attribute``: integrated gradients of a FASTA file as TF-MoDISco's arrays ([N, A, L]),
the same through a real server as in process, written complete or not at all."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from seqzoo.serving.engine import Engine
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.npz import NpzWriter
from test_score_cli import write_fasta
from test_server import ServerThread

from seqzoo.cli import main


def records(n: int, length: int = 200, seed: int = 5) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    return [(f"site{i} chr1:{i * 500}-{i * 500 + length}(+)", "".join(rng.choice(list("ACGUN"), size=length,
                                                                                  p=[.24, .24, .24, .24, .04])))
            for i in range(n)]


def attribute(published_model, fasta, out, *extra):
    return main(["attribute", "--model", "pum2", "--zoo", str(published_model.zoo_root), str(fasta), "-o", str(out),
                 "--no-progress", *extra])


def test_arrays_are_integrated_gradients_in_modisco_layout(published_model, tmp_path, capsys):
    recs = records(70)
    fasta, out = tmp_path / "in.fa", tmp_path / "ig.npz"
    write_fasta(fasta, recs, width=60)
    assert attribute(published_model, fasta, out, "--local", "--batch", "32", "--steps", "20",
                     "--modisco", str(tmp_path / "modisco"), "--logos", str(tmp_path / "logos"),
                     "--logo-count", "2") == 0
    got = np.load(out)
    assert sorted(got.files) == ["classes", "columns", "contributions", "hypothetical", "meta", "names", "onehot",
                                 "probs"]
    assert got["onehot"].shape == got["hypothetical"].shape == (70, 4, 200)
    assert list(got["names"]) == [name.split()[0] for name, _ in recs]
    assert list(got["columns"]) == list("ACGU") and list(got["classes"]) == published_model.card["classes"]
    meta = json.loads(str(got["meta"]))
    assert meta["steps"] == 20 and meta["target"] == "positive" and meta["digest"].startswith("sha256:")

    engine = Engine.load(published_model, device="cpu")
    codes = engine.encode([s for _, s in recs])
    onehot = engine.alphabet.one_hot(codes)
    selector = engine.selector(len(codes))
    np.testing.assert_array_equal(got["onehot"], onehot.transpose(0, 2, 1))
    np.testing.assert_allclose(got["probs"], engine.predict(codes), atol=1e-6)
    ig = engine.integrated_gradients(onehot, selector, 20)
    np.testing.assert_allclose(got["contributions"], ig.transpose(0, 2, 1), atol=1e-6)
    # the hypothetical map is the path gradient at every letter: non-zero where the letter is absent
    absent = got["onehot"] == 0
    assert np.abs(got["hypothetical"][absent]).max() > 1e-4
    np.testing.assert_allclose(got["contributions"], got["hypothetical"] * got["onehot"], atol=1e-7)
    # N positions contribute nothing
    assert np.all(got["contributions"][got["onehot"].sum(1, keepdims=True).repeat(4, 1) == 0] == 0)
    # modisco-lite's inputs: arr_0 each, the same arrays
    ohe, shap = np.load(tmp_path / "modisco" / "ohe.npz"), np.load(tmp_path / "modisco" / "shap.npz")
    np.testing.assert_array_equal(ohe["arr_0"], got["onehot"])
    np.testing.assert_array_equal(shap["arr_0"], got["hypothetical"])
    assert len(list((tmp_path / "logos").glob("*.png"))) == 2
    assert "explained 70 sequences with pum2:1 (positive, ig)" in capsys.readouterr().err


def test_server_gives_the_local_arrays(published_model, tmp_path):
    fasta = tmp_path / "in.fa.gz"
    write_fasta(fasta, records(40, seed=9))
    local, remote = tmp_path / "local.npz", tmp_path / "remote.npz"
    assert attribute(published_model, fasta, local, "--local", "--steps", "8", "--target", "negative") == 0
    server = ServerThread(published_model.zoo_root)
    try:
        assert main(["attribute", "--model", "pum2", "--server", server.target, str(fasta), "-o", str(remote),
                     "--no-progress", "--steps", "8", "--target", "negative", "--batch", "16"]) == 0
    finally:
        server.drain()
    a, b = np.load(local), np.load(remote)
    for name in ("onehot", "hypothetical", "contributions", "probs"):
        np.testing.assert_allclose(a[name], b[name], atol=1e-6, err_msg=name)
    assert json.loads(str(b["meta"]))["target"] == "negative"


def test_bad_input_names_the_record_and_leaves_nothing(published_model, tmp_path, capsys):
    recs = records(50)
    recs[41] = ("broken", recs[41][1][:120] + "X" + recs[41][1][121:])
    fasta, out = tmp_path / "bad.fa", tmp_path / "out.npz"
    write_fasta(fasta, recs, width=200)
    assert attribute(published_model, fasta, out, "--local", "--batch", "16",
                     "--modisco", str(tmp_path / "m")) == 2
    assert f"{fasta}:83: record broken: character 'X' at position 121" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".out.npz*"))
    assert not list((tmp_path / "m").iterdir())
    short = tmp_path / "short.fa"
    write_fasta(short, records(3) + [("tiny", "ACGU")])
    assert attribute(published_model, short, out, "--local") == 2
    assert f"{short}:" in capsys.readouterr().err and not out.exists()
    for flags, message in ((["--steps", "1001"], "--steps must be 0..1000"),
                           (["--target", "nosuch"], "--target nosuch: not a class"),
                           (["-o", str(tmp_path / "x.tsv")], "name it .npz"),
                           (["--logos", "/proc/x"], "--logos /proc/x: cannot create the folder")):  # was a traceback
        argv = ["attribute", "--model", "pum2", "--zoo", str(published_model.zoo_root), str(short), "-o", str(out),
                "--local", "--no-progress", *flags]
        assert main(argv) == 2
        assert message in capsys.readouterr().err


def test_npz_writer_streams_blocks_into_a_loadable_archive(tmp_path):
    rng = np.random.default_rng(0)
    blocks = [rng.normal(size=(n, 3, 5)).astype(np.float32) for n in (4, 1, 7)]
    writer = NpzWriter(tmp_path / "a.npz")
    for block in blocks:
        writer.append("x", block)
        writer.append("n", np.arange(len(block)))
    writer.commit({"label": np.array(["a", "b"])})
    got = np.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(got["x"], np.concatenate(blocks))
    assert got["n"].tolist() == [0, 1, 2, 3, 0, 0, 1, 2, 3, 4, 5, 6] and got["label"].tolist() == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]
    broken = NpzWriter(tmp_path / "b.npz")
    broken.append("x", blocks[0])
    with pytest.raises(InputError, match="array 'x': a block of float64"):
        broken.append("x", blocks[0].astype(np.float64))
    broken.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]


def test_modisco_lite_reads_what_attribute_writes(published_model, tmp_path):
    """TF-MoDISco (modisco-lite's own CLI) runs on the --modisco arrays as they are (-w: the
    window it reads around the centre, at most the sequence length)."""
    import shutil
    import subprocess

    import h5py

    modisco = shutil.which("modisco") or str(Path(sys.executable).parent / "modisco")
    fasta = tmp_path / "in.fa"
    write_fasta(fasta, records(120, seed=3), width=80)
    assert attribute(published_model, fasta, tmp_path / "ig.npz", "--local", "--steps", "8",
                     "--modisco", str(tmp_path / "m")) == 0
    result = subprocess.run([modisco, "motifs", "-s", str(tmp_path / "m" / "ohe.npz"), "-a",
                             str(tmp_path / "m" / "shap.npz"), "-n", "200", "-w", "200", "-o",
                             str(tmp_path / "m" / "out.h5")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    with h5py.File(tmp_path / "m" / "out.h5") as f:  # its results file: patterns, when it found any
        assert set(f.keys()) <= {"pos_patterns", "neg_patterns"}
