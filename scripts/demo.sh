#!/bin/sh
# The demo: a real RIPP call with real audio on loopback.
#   rippd --dev (echo trunk, self-signed certificate, SQLite) + ripp call playing a
#   speech-like WAV for 10 s and recording what comes back.
set -eu
BUILD=${1:-build}
OUT=${OUT:-out/demo}
rm -rf "$OUT"
mkdir -p "$OUT"

"$BUILD/apps/ripp-wavtool" gen "$OUT/speech.wav" --seconds 10

"$BUILD/apps/rippd" --dev --state-dir "$OUT/rippd" --answer echo >"$OUT/rippd.json" 2>"$OUT/rippd.log" &
RIPPD=$!
trap 'kill -TERM $RIPPD 2>/dev/null || true' EXIT INT TERM

i=0
while [ ! -s "$OUT/rippd.json" ]; do
  i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 $RIPPD 2>/dev/null; then
    echo "demo: rippd did not start; its log:" >&2
    cat "$OUT/rippd.log" >&2
    exit 1
  fi
  sleep 0.1
done
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$OUT/rippd.json"; }
TRUNK=$(field trunk)
TOKEN=$(field token)
CA=$(field ca)
KEY=$(field identity_key)

echo "rippd: trunk $TRUNK"
echo "ripp:  calling +14085551212, playing $OUT/speech.wav for 10 s ..."
status=0
"$BUILD/apps/ripp" call --trunk "$TRUNK" --token "$TOKEN" --ca "$CA" --identity-key "$KEY" \
  --to +14085551212 --from +14085550100 --play "$OUT/speech.wav" --record "$OUT/echo.wav" \
  --duration 10 >"$OUT/call.jsonl" || status=$?

echo
echo "events:"
grep -v '"outcome"' "$OUT/call.jsonl" | sed 's/^/  /'
echo
echo "summary:"
tail -n 1 "$OUT/call.jsonl" | sed 's/^/  /'
echo
echo "echo quality (recording vs. what was sent):"
"$BUILD/apps/ripp-wavtool" compare "$OUT/speech.wav" "$OUT/echo.wav" --segment-ms 100 | sed 's/^/  /'
echo
echo "recording: $OUT/echo.wav"
echo "server log: $OUT/rippd.log"

kill -TERM $RIPPD
wait $RIPPD || true
trap - EXIT INT TERM
if [ $status -ne 0 ]; then
  echo "demo: the call did not complete normally (exit $status)" >&2
  exit $status
fi
