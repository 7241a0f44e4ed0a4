"""One request context for every service: after one good and one bad call to each of the five
services (seqzoo.v1 SeqZoo, Variants and Annotation; the Open Inference Protocol over gRPC and
HTTP), the metrics page counts each, answered and failed, under the same names."""

from __future__ import annotations

import urllib.request

import grpc
import numpy as np
import pytest
from conftest import REPO, read_fasta_gz
from seqzoo.serving.annotate import Region
from seqzoo.serving.client import AnnotationClient, SeqZooClient, VariantsClient
from seqzoo.serving.server import reference
from seqzoo.v1 import oip_pb2 as opb
from seqzoo.v1 import oip_pb2_grpc as opb_grpc
from seqzoo.zoo.errors import SeqzooError
from test_oip import http
from test_server import ServerThread, free_port

GENOME = REPO / "datasets" / "genome" / "NCTC8325.fasta.gz"


def test_the_metrics_page_counts_every_services_calls(published_model, tmp_path):
    from conftest import RBP

    sequence = read_fasta_gz(RBP / "pum2.test.positive.fasta.gz", 1)[0]
    genome = reference.set_genome(GENOME, cache=str(tmp_path / "cache"))
    server = ServerThread(published_model.zoo_root, http_port=0)
    metrics_port = free_port()
    server.metrics.serve(metrics_port, "127.0.0.1")
    contig = next(iter(genome.lengths))
    try:
        with SeqZooClient(server.target) as client:
            client.score("pum2", [sequence])  # SeqZoo
            with pytest.raises(SeqzooError):
                client.score("nosuch", [sequence])
            stub = opb_grpc.GRPCInferenceServiceStub(client.channel)  # OIP gRPC
            tensor = opb.ModelInferRequest.InferInputTensor(name="sequences", datatype="BYTES", shape=[1])
            tensor.contents.bytes_contents.append(sequence.encode())
            stub.ModelInfer(opb.ModelInferRequest(model_name="pum2", inputs=[tensor]))
            with pytest.raises(grpc.RpcError):
                stub.ModelInfer(opb.ModelInferRequest(model_name="nosuch", inputs=[tensor]))
            variants = VariantsClient(client)  # Variants
            variants.score_windows_many("pum2", [sequence], [sequence[:99] + "A" + sequence[100:]], ["diff"], None)
            with pytest.raises(SeqzooError):
                variants.score_windows_many("pum2", [sequence], [sequence[:99]], ["diff"], None)
            annotation = AnnotationClient(client)  # Annotation
            blocks = list(annotation.annotate("pum2", [(Region(contig, 1000, 1300), "+")], 10, ["positive"]))
            assert sum(len(b[2]) for b in blocks) == 30
            with pytest.raises(SeqzooError):
                list(annotation.annotate("nosuch", [(Region(contig, 1000, 1300), "+")], 10, ["positive"]))
        body = {"inputs": [{"name": "sequences", "datatype": "BYTES", "shape": [1], "data": [sequence]}]}
        assert http(server.server.http_port, "/v2/models/pum2/infer", body)[0] == 200  # OIP HTTP
        assert http(server.server.http_port, "/v2/models/nosuch/infer", body)[0] == 404
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as page:
            text = page.read().decode()
    finally:
        server.drain()
        reference._genome = None
    counts = {}
    for line in text.splitlines():
        if line.startswith("seqzoo_requests_total{"):
            labels = dict(part.split("=", 1) for part in line[line.index("{") + 1:line.index("}")].split(","))
            key = (labels["method"].strip('"'), labels["code"].strip('"'))
            counts[key] = counts.get(key, 0) + float(line.rsplit(" ", 1)[1])
    for method in ("Score", "ModelInfer", "HTTPModelInfer", "ScoreVariants", "Annotate"):
        assert counts.get((method, "OK")) == 1, (method, counts)
        failed = {code: n for (m, code), n in counts.items() if m == method and code != "OK"}
        assert sum(failed.values()) == 1 and set(failed) <= {"NOT_FOUND", "INVALID_ARGUMENT"}, (method, counts)
    assert np.isfinite(list(counts.values())).all()
