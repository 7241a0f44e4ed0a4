#!/usr/bin/env bash
# The main job end to end on the bundled default (PUM2, pysster's CLIP-seq set; S. aureus variants):
# train -> publish into a zoo -> verify -> serve over gRPC -> score sequences -> score variants; and the
# S. aureus genome language model, whose log-likelihood ratios give the variants a score meant for S. aureus.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${SEQZOO_DEMO_OUT:-demo-out}
ZOO="$OUT/zoo"
DATA=datasets
mkdir -p "$OUT"
export SEQZOO_CACHE="$OUT/cache"

echo "== 1. train the PUM2 model and publish it into $ZOO"
seqzoo train --name pum2 --alphabet rna \
  --class negative=$DATA/rbp/pum2.train.negative.fasta.gz --class positive=$DATA/rbp/pum2.train.positive.fasta.gz \
  --test-class negative=$DATA/rbp/pum2.test.negative.fasta.gz --test-class positive=$DATA/rbp/pum2.test.positive.fasta.gz \
  --licence MIT --citation "seqzoo demo; data: Budach & Marsico 2018 (pysster), Heller et al. 2017 (ssHMM)" \
  --species "Homo sapiens" --assembly hg19 --tag rbp --tag clip \
  --class-description positive="a PUM2 binding site" --class-description negative="another RBP's binding site" \
  --zoo "$ZOO" --out "$OUT/runs/pum2" --force --json | tail -n 1 > "$OUT/train.json"
cat "$OUT/train.json"

echo "== 1b. train the S. aureus genome language model (GRU; the last 10% of the genome held out)"
seqzoo lm --name saureus-lm --genome $DATA/genome/NCTC8325.fasta.gz --hidden 64 --layers 1 --epochs 2 \
  --licence GPL-2.0-or-later --citation "seqzoo demo; genome: NCBI NC_007795.1 (sibelia-examples)" \
  --species "Staphylococcus aureus NCTC 8325" --zoo "$ZOO" --out "$OUT/runs/saureus-lm" --quiet --json | tail -n 1 > "$OUT/lm.json"
cat "$OUT/lm.json"

echo "== 2. the zoo: list, show, verify (digests and the card's expected outputs)"
seqzoo zoo list --zoo "$ZOO"
seqzoo zoo verify pum2:latest --zoo "$ZOO"
seqzoo zoo verify saureus-lm:latest --zoo "$ZOO"

echo "== 2b. pretrained models: the shipped registry (registry/) served over http on loopback"
REG_PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python -m http.server "$REG_PORT" --bind 127.0.0.1 --directory registry > "$OUT/registry.log" 2>&1 &
REGISTRY_SERVER=$!
REGISTRY="http://127.0.0.1:$REG_PORT"
for _ in $(seq 50); do
  python -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$REGISTRY/index.json" \
    2>/dev/null && break
  sleep 0.2
done
seqzoo zoo search qki --registry "$REGISTRY"
DIGEST=$(seqzoo zoo list foxo1 --registry "$REGISTRY" --json | python -c 'import json,sys; print(json.load(sys.stdin)[-1]["digest"])')
seqzoo zoo pull "foxo1@$DIGEST" --registry "$REGISTRY" --zoo "$ZOO"
seqzoo zoo verify "foxo1@$DIGEST" --zoo "$ZOO"
kill $REGISTRY_SERVER

echo "== 3. serve the zoo over gRPC"
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
seqzoo serve --zoo "$ZOO" --host 127.0.0.1 --port "$PORT" --genome $DATA/genome/NCTC8325.fasta.gz \
  > "$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  python -m seqzoo.serving.healthcheck --address "127.0.0.1:$PORT" --timeout 2 >/dev/null 2>&1 && break
  kill -0 $SERVER 2>/dev/null || { cat "$OUT/server.log"; exit 1; }
  sleep 1
done
python -m seqzoo.serving.healthcheck --address "127.0.0.1:$PORT"

echo "== 4. score the PUM2 test sequences through the server"
seqzoo score --server "127.0.0.1:$PORT" --model pum2 $DATA/rbp/pum2.test.positive.fasta.gz -o "$OUT/scores.tsv" --no-progress
head -n 4 "$OUT/scores.tsv"

echo "== 5. score the S. aureus variants (T read as U for this RNA model) with IG maps of both alleles"
seqzoo variants --server "127.0.0.1:$PORT" --model pum2 --vcf $DATA/genome/variant.vcf.gz \
  --genome $DATA/genome/NCTC8325.fasta.gz --scores diff log2fc deepsea_effect \
  --attribution ig --attribution-out "$OUT/variants.attributions.npz" --plots "$OUT/variant-plots" \
  -o "$OUT/variants.vcf.gz" --quiet
seqzoo variants --server "127.0.0.1:$PORT" --model pum2 --vcf $DATA/genome/variant.vcf.gz \
  --genome $DATA/genome/NCTC8325.fasta.gz --scores diff log2fc deepsea_effect -o "$OUT/variants.tsv" --quiet
head -n 4 "$OUT/variants.tsv"

echo "== 5b. the same variants under the S. aureus language model: llr = ln P(alt window) - ln P(ref window)"
seqzoo variants --server "127.0.0.1:$PORT" --model saureus-lm --vcf $DATA/genome/variant.vcf.gz \
  --genome $DATA/genome/NCTC8325.fasta.gz --scores llr -o "$OUT/variants.llr.tsv" --quiet
head -n 4 "$OUT/variants.llr.tsv"

echo "== 6. the same model from Python: in process and through the server"
python - "$ZOO" "127.0.0.1:$PORT" <<'PY'
import sys
import seqzoo
local = seqzoo.load("pum2", zoo=sys.argv[1])
remote = seqzoo.connect(sys.argv[2]).load("pum2")
windows = ["UGUAAAUAUUGUAAAUA" * 12][:1] + ["ACGU" * 50]
print(local.ref, local.digest)
print(local.predict([w[:200].ljust(200, "N") for w in windows]))
print(remote.predict([w[:200].ljust(200, "N") for w in windows]))
PY

kill -TERM $SERVER && wait $SERVER || true
trap - EXIT
echo "== done: $OUT/ holds the run, the zoo, scores, annotated VCF, attribution maps and plots;"
echo "   the model's report: $(ls "$ZOO"/pum2/*/report.html | tail -n 1)"
