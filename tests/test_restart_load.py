"""A server restart under load loses nothing: 20,000 one-sequence Score calls from 16 clients,
with the server sent SIGTERM (it drains) and started again on the same port mid-run; every
answer is checked against the local engine."""

from __future__ import annotations

import signal
import threading

import numpy as np
from conftest import RBP, read_fasta_gz
from seqzoo.serving.client import SeqZooClient
from seqzoo.serving.engine import Engine
from seqzoo.zoo.errors import SeqzooError
from test_one_core import ServerProcess

CLIENTS = 16
REQUESTS = 20_000
RESTART_AFTER = 6_000


def test_a_restart_under_load_loses_nothing(published_model):
    sequences = (read_fasta_gz(RBP / "pum2.test.positive.fasta.gz", 100)
                 + read_fasta_gz(RBP / "pum2.test.negative.fasta.gz", 100))
    engine = Engine.load(published_model.path, device="cpu")
    expected = engine.predict(engine.encode(sequences))
    model = f"{published_model.name}:{published_model.version}"
    server = ServerProcess(published_model.zoo_root, model, extra=("--grace-seconds", "20"))
    answered, wrong, lost = [0] * CLIENTS, [], []
    progress = threading.Semaphore(0)

    def client(k: int) -> None:
        with SeqZooClient(server.target, timeout=60) as c:
            for i in range(k, REQUESTS, CLIENTS):
                s = i % len(sequences)
                try:
                    probs = c.score(model, sequences=[sequences[s]])
                except SeqzooError as exc:
                    lost.append((i, str(exc)))
                    continue
                if not np.allclose(probs[0], expected[s], atol=1e-5):
                    wrong.append((i, probs[0], expected[s]))
                answered[k] += 1
                progress.release()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        for _ in range(RESTART_AFTER):
            progress.acquire(timeout=120)
        port = server.port
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(60) == 0
        server = ServerProcess(published_model.zoo_root, model, port=port)
        for t in threads:
            t.join(300)
    finally:
        server.stop()
    assert not lost, f"{len(lost)} calls lost, first: {lost[:3]}"
    assert not wrong, f"{len(wrong)} wrong answers, first: {wrong[:3]}"
    assert sum(answered) == REQUESTS
