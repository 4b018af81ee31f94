#!/bin/bash
# The detector's quality on a small run recorded by the reference server
# (issue 5, "Done when", at test scale): records three 7-round runs of 10
# clients (tests/detector/eval/small_*.yaml: 2 attackers from round 4), then
# flsentry-detector-eval trains on rounds 1-3 and replays rounds 1-7 with and
# without refresh through configs/default.yaml's policy, which must separate
# each attack's updates from the benign ones of the same rounds with the
# AUROCs below.
# usage: detector_eval_test.sh SIMULATE_BINARY EVAL_BINARY
# Exit 77 (skipped) when the Fashion-MNIST data set is not installed.
set -u
SIMULATE=$1
EVAL=$2
HERE=$(cd "$(dirname "$0")" && pwd)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "SKIP: no Fashion-MNIST"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for attack in sign_flip scaling alie; do
  "$SIMULATE" --config "$HERE/eval/small_$attack.yaml" --record "$TMP/$attack" --quiet \
      > "$TMP/$attack.log" 2>&1 || fail "simulate $attack: $(tail -3 "$TMP/$attack.log")"
done

# k = 256 keeps training fast; the checks are per mode, statistic and attack.
# "policy" is what configs/default.yaml judges (Decision::suspicion).
"$EVAL" "$TMP/sign_flip" "$TMP/scaling" "$TMP/alie" --sketch-dim 256 --json \
    --policy "$HERE/../../configs/default.yaml" \
    --min-auroc refresh.policy.sign_flip=0.99 --min-auroc frozen.policy.sign_flip=0.99 \
    --min-auroc refresh.policy.scaling=0.99 --min-auroc frozen.policy.scaling=0.99 \
    --min-auroc refresh.policy.alie=0.99 --min-auroc frozen.policy.alie=0.99 \
    --min-auroc refresh.raw.sign_flip=0.99 --min-auroc refresh.central.alie=0.99 \
    > "$TMP/eval.json" 2> "$TMP/eval.err"
rc=$?
[ $rc -eq 0 ] || fail "detector-eval exit $rc: $(cat "$TMP/eval.err")"

# The report names every attack in both modes, with the rule's rates.
for attack in sign_flip scaling alie; do
  [ "$(grep -c "\"$attack\": {" "$TMP/eval.json")" -eq 2 ] || fail "$attack not in both modes"
done
grep -q '"fpr"' "$TMP/eval.json" || fail "no fpr in the report"

# A minimum that cannot hold must fail the run (exit 3), and a malformed one
# is refused (exit 2): the checks above are not vacuous.
"$EVAL" "$TMP/alie" --sketch-dim 256 --policy "$HERE/../../configs/default.yaml" --min-auroc frozen.raw.alie=1.01 > /dev/null 2>&1
[ $? -eq 3 ] || fail "an unreachable minimum did not fail"
"$EVAL" "$TMP/alie" --sketch-dim 256 --policy "$HERE/../../configs/default.yaml" --min-auroc frozen.raw.sign_flip=0.5 > /dev/null 2>&1
[ $? -eq 2 ] || fail "a check matching no attack was not refused"

# The seed's path (`flsentry train` on the first rounds, `flsentry detect` on
# later ones, as the original autoencoder.py / detect_anomalies.py): a round
# is judged relative to itself by default, so the scaled updates are caught
# by their norm and (almost) no benign update is flagged, where the trained
# detector's fixed 99th percentile flags more and more benign ones.
FLSENTRY="$(dirname "$EVAL")/flsentry"
mkdir "$TMP/early" "$TMP/late"
cp -r "$TMP/scaling"/round_000[1-3] "$TMP/early/"
cp -r "$TMP/scaling"/round_000[4-7] "$TMP/late/"
"$FLSENTRY" train "$TMP/early" -o "$TMP/det" > "$TMP/train.log" 2>&1 || fail "train: $(tail -3 "$TMP/train.log")"
"$FLSENTRY" detect "$TMP/late" --detector "$TMP/det" --json > "$TMP/detect.json" || fail "detect"
python3 - "$TMP/detect.json" "$TMP/late" <<'PY' || fail "seed path"
import glob, json, sys
decisions = json.load(open(sys.argv[1]))
label = {}
for manifest in glob.glob(sys.argv[2] + "/round_*/manifest.json"):
    round_dir = manifest.split("/")[-2]
    for c in json.load(open(manifest))["clients"]:
        label[round_dir + "/" + c["file"]] = c.get("label")
mal = [d for d in decisions if label[d["file"]] == "malicious"]
ben = [d for d in decisions if label[d["file"]] != "malicious"]
caught = sum(d["anomaly"] for d in mal)
flagged = sum(d["anomaly"] for d in ben)
print(f"seed path: scaled caught {caught}/{len(mal)}, benign flagged {flagged}/{len(ben)}")
assert mal and all(d["threshold_kind"] == "round-relative" for d in decisions)
assert caught == len(mal), "every scaled update is caught"
assert flagged <= 1, "at most one benign update flagged"
PY
echo "PASS"
