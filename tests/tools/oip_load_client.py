"""tritonclient under load, in its own process, with the service config deploy/ publishes: the
client a pipeline would run against seqzoo through a restart.

    python tests/tools/oip_load_client.py HOST:PORT MODEL CODES.npy EXPECTED.npy CALLS THREADS OUT.json [CONFIG]

Each of THREADS threads has its own ``tritonclient.grpc.InferenceServerClient`` (channel options
``grpc.service_config`` = deploy/grpc-service-config.json or CONFIG, ``grpc.enable_retries`` = 1) and sends
its share of CALLS one-sequence ModelInfer calls (row ``i % len(CODES)``, raw UINT8); every answer
is compared with EXPECTED. Prints ``progress K`` every 500 answers (for the test to time a
restart) and writes ``{"answered", "wrong", "lost": [first errors], "lost_count"}``.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import numpy as np
import tritonclient.grpc as tc

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "grpc-service-config.json"


def main() -> int:
    url, model, codes_path, expected_path, calls, threads, out = sys.argv[1:8]
    codes, expected = np.load(codes_path), np.load(expected_path)
    calls, threads = int(calls), int(threads)
    config = json.dumps(json.loads(Path(sys.argv[8] if len(sys.argv) > 8 else CONFIG).read_text()))
    lock, state = threading.Lock(), {"answered": 0, "wrong": 0, "lost": [], "lost_count": 0}

    def worker(k: int) -> None:
        client = tc.InferenceServerClient(url, channel_args=[("grpc.service_config", config),
                                                             ("grpc.enable_retries", 1)])
        for i in range(k, calls, threads):
            row = i % len(codes)
            tensor = tc.InferInput("codes", [1, codes.shape[1]], "UINT8")
            tensor.set_data_from_numpy(codes[row:row + 1])
            try:
                probs = client.infer(model, [tensor], client_timeout=120).as_numpy("probs")
            except Exception as exc:  # noqa: BLE001 - any failure is a lost call
                with lock:
                    state["lost_count"] += 1
                    if len(state["lost"]) < 5:
                        state["lost"].append(f"{i}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            with lock:
                state["answered"] += 1
                state["wrong"] += int(not np.allclose(probs[0], expected[row], atol=1e-5))
                if state["answered"] % 500 == 0:
                    print(f"progress {state['answered']}", flush=True)
        client.close()

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    Path(out).write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
