#!/bin/bash
# CLI test of `flsentry train`, `detect` and `import-seed` on the fixtures
# of tests/fixtures/make_seed_autoencoder.py.
# usage: detector_cli_test.sh FLSENTRY_BINARY FIXTURES_DIR
set -u
FLSENTRY=$1
FIX=$2/detector
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# train on the benign folder
"$FLSENTRY" train "$FIX/updates" -o "$TMP/det" > "$TMP/train.out" 2>&1 || { cat "$TMP/train.out"; fail "train"; }
grep -q "trained on 12 updates" "$TMP/train.out" || fail "train summary: $(cat "$TMP/train.out")"
[ -f "$TMP/det/detector.json" ] && [ -f "$TMP/det/weights.safetensors" ] || fail "detector files"

# detect: benign + odd in one folder; sign-flip, noise and scaling flagged
mkdir "$TMP/all"
cp "$FIX"/updates/*.pth "$FIX"/odd/*.pth "$TMP/all/"
"$FLSENTRY" detect "$TMP/all" --detector "$TMP/det" > "$TMP/detect.out" 2>&1 || fail "detect: $(cat "$TMP/detect.out")"
[ "$(wc -l < "$TMP/detect.out")" -eq 16 ] || fail "16 lines expected: $(cat "$TMP/detect.out")"
# By default the folder is judged relative to itself, and the output says so.
head -1 "$TMP/detect.out" | grep -q "^# updates: threshold .* (round-relative: 3 x the round's median score)$" \
  || fail "round-relative header: $(head -1 "$TMP/detect.out")"
for f in odd_00 odd_01 odd_02; do
  grep -q "^$f.pth  score .* threshold .*  ANOMALY" "$TMP/detect.out" || fail "$f not flagged: $(cat "$TMP/detect.out")"
done
benign_ok=$(grep -c "^update_.*  ok$" "$TMP/detect.out")
[ "$benign_ok" -ge 10 ] || fail "only $benign_ok of 12 benign updates ok: $(cat "$TMP/detect.out")"

# A round of 3 updates is judged relative to itself too: 2 benign and one
# odd one, the odd one flagged, the benign ones not (with the calibrated
# quantile of a detector trained elsewhere a small round was flagged whole).
mkdir "$TMP/three"
cp "$FIX/updates/update_00.pth" "$FIX/updates/update_01.pth" "$FIX/odd/odd_02.pth" "$TMP/three/"
"$FLSENTRY" detect "$TMP/three" --detector "$TMP/det" > "$TMP/three.out" 2>&1 || fail "detect three: $(cat "$TMP/three.out")"
head -1 "$TMP/three.out" | grep -q "(round-relative: 3 x the round's median score)$" \
  || fail "a 3-update round is not round-relative: $(cat "$TMP/three.out")"
[ "$(grep -c "  ok$" "$TMP/three.out")" -eq 2 ] || fail "3-update round: $(cat "$TMP/three.out")"
grep -q "^odd_02.pth  score .*  ANOMALY" "$TMP/three.out" || fail "odd_02 in 3: $(cat "$TMP/three.out")"

# --json: an array of objects with file, score, threshold, anomaly
"$FLSENTRY" detect "$TMP/all" --detector "$TMP/det" --json > "$TMP/detect.json" || fail "detect --json"
grep -q '"file": "odd_00.pth"' "$TMP/detect.json" || fail "json file field"
grep -q '"anomaly": true' "$TMP/detect.json" || fail "json anomaly field"
[ "$(grep -c '"threshold":' "$TMP/detect.json")" -eq 15 ] || fail "json threshold fields"
[ "$(grep -c '"threshold_kind": "round-relative"' "$TMP/detect.json")" -eq 15 ] || fail "json threshold_kind"
# The scaled update (odd_02) is caught by its norm although its direction
# scores like a benign one, and suspicion ranks all three odd updates first.
grep -q "^odd_02.pth .*ANOMALY (norm)$" "$TMP/detect.out" || fail "odd_02 by norm: $(cat "$TMP/detect.out")"
top3=$(python3 -c "import json,sys; a=json.load(open(sys.argv[1])); print(' '.join(sorted(r['file'] for r in sorted(a, key=lambda r: -(r['suspicion'] or 0))[:3])))" "$TMP/detect.json")
[ "$top3" = "odd_00.pth odd_01.pth odd_02.pth" ] || fail "odd updates should rank first by suspicion, got $top3"
# --quantile: the detector's calibrated quantile, fixed, as the original tool.
"$FLSENTRY" detect "$TMP/all" --detector "$TMP/det" --quantile 0.99 > "$TMP/q.out" || fail "detect --quantile"
head -1 "$TMP/q.out" | grep -q "(calibrated quantile)" || fail "quantile header: $(head -1 "$TMP/q.out")"

# bad input: clear one-line errors, exit code 1
mkdir "$TMP/empty"
out=$("$FLSENTRY" train "$TMP/empty" -o "$TMP/det2" 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == "flsentry: error: "* ]] || fail "empty folder: rc=$rc $out"
out=$("$FLSENTRY" detect "$TMP/all" --detector "$TMP/missing" 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"$TMP/missing"* ]] || fail "missing detector: rc=$rc $out"
echo "features: {sketch_dim: 2}" > "$TMP/bad.yaml"
out=$("$FLSENTRY" train "$FIX/updates" -o "$TMP/det3" --config "$TMP/bad.yaml" 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"features.sketch_dim"* ]] || fail "bad config: rc=$rc $out"
out=$("$FLSENTRY" import-seed "$FIX/autoencoder.pth" -o "$TMP/seed" --reference "$FIX/autoencoder.pth" 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"input size 75 differs"* ]] || fail "seed mismatch: rc=$rc $out"

out=$("$FLSENTRY" import-seed "$FIX/autoencoder.pth" -o "$TMP/seed" --reference "$FIX/updates/update_00.pth" --activations relu,none 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"2 activations given for 4 Linear layers"* ]] || fail "activation count: rc=$rc $out"
# The example of the right count is the architecture the keys imply (the
# original tool's relu,none,relu,none), not the legacy all-ReLU layout.
out=$("$FLSENTRY" import-seed "$FIX/original/autoencoder.pth" -o "$TMP/seed" --reference "$FIX/updates/update_00.pth" --activations relu,none 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"2 activations given for 4 Linear layers (one per Linear, e.g. relu,none,relu,none, what the state_dict keys imply)"* ]] || fail "activation count example: rc=$rc $out"

# import-seed says which architecture it used: the keys' (the original
# tool's shape) or the one stated.
out=$("$FLSENTRY" import-seed "$FIX/original/autoencoder.pth" -o "$TMP/orig" --reference "$FIX/updates/update_00.pth") || fail "import-seed original"
[[ "$out" == *"activations: relu,none,relu,none, from the state_dict keys (nn.Sequential indices)"* ]] || fail "activations line: $out"
[[ "$out" == *"assumed: no activation between 'encoder.2' and 'decoder.0'"* ]] || fail "assumption line: $out"
json=$("$FLSENTRY" import-seed "$FIX/original/autoencoder.pth" -o "$TMP/orig" --reference "$FIX/updates/update_00.pth" --json --activations relu,relu,relu,none) || fail "import-seed --json"
python3 -c "import json,sys; s=json.loads(sys.argv[1]); assert s['activations']=='relu,relu,relu,none' and s['activations_source']=='--activations', s" "$json" || fail "import-seed --json: $json"

# import-seed + detect: the fixture autoencoder has a ReLU on the latent too,
# which its keys cannot show: stated. Identity mode.
"$FLSENTRY" import-seed "$FIX/autoencoder.pth" -o "$TMP/seed" --reference "$FIX/updates/update_00.pth" --calibrate "$FIX/updates" --activations relu,relu,relu,none > /dev/null || fail "import-seed"
"$FLSENTRY" detect "$TMP/all" --detector "$TMP/seed" --quantile 1 > "$TMP/seed.out" || fail "detect seed"
for f in odd_00 odd_01 odd_02; do
  grep -q "^$f.pth .*ANOMALY" "$TMP/seed.out" || fail "seed: $f not flagged: $(cat "$TMP/seed.out")"
done
echo "ok"
