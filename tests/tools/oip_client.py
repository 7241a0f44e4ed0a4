"""An Open Inference Protocol client seqzoo did not write: tritonclient, run in its own process
(its inference.* protobuf messages and seqzoo's own OIP stubs cannot share a process).

    python tests/tools/oip_client.py HOST:PORT MODEL CODES.npy OUT.json [VERSION]

Asks liveness, readiness and metadata, then infers the codes as UINT8 (raw) and as BYTES
sequences (letters of the model's alphabet), and writes what it got as JSON.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.grpc as tc


def main() -> int:
    url, model, codes_path, out = sys.argv[1:5]
    version = sys.argv[5] if len(sys.argv) > 5 else ""
    client = tc.InferenceServerClient(url)
    codes = np.load(codes_path)
    meta = client.get_model_metadata(model, version, as_json=True)
    got = {"live": client.is_server_live(), "ready": client.is_server_ready(),
           "model_ready": client.is_model_ready(model, version), "metadata": meta,
           "server": client.get_server_metadata(as_json=True)}
    tensor = tc.InferInput("codes", list(codes.shape), "UINT8")
    tensor.set_data_from_numpy(codes)
    answer = client.infer(model, [tensor], model_version=version, outputs=[tc.InferRequestedOutput("probs")])
    got["codes_probs"] = answer.as_numpy("probs").tolist()
    got["answered_by"] = [answer.get_response().model_name, answer.get_response().model_version]
    letters = sys.argv[6] if len(sys.argv) > 6 else "ACGU"
    sequences = np.array(["".join(letters[k] for k in row).encode() for row in codes], dtype=object)
    tensor = tc.InferInput("sequences", [len(sequences)], "BYTES")
    tensor.set_data_from_numpy(sequences)
    got["sequences_probs"] = client.infer(model, [tensor], model_version=version).as_numpy("probs").tolist()
    errors = {}
    for name, call in (("unknown_model", lambda: client.infer("nosuch", [tensor])),
                       ("unknown_version", lambda: client.infer(model, [tensor], model_version="99")),
                       ("metadata_unknown", lambda: client.get_model_metadata("nosuch"))):
        try:
            call()
            errors[name] = "no error"
        except tc.InferenceServerException as exc:
            errors[name] = [exc.status(), exc.message()]
    got["errors"] = errors
    with open(out, "w") as f:
        json.dump(got, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
