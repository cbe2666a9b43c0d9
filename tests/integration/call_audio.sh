#!/bin/sh
# A 10-second call with real audio; checks what arrives against what was sent.
#   call_audio.sh MODE CODEC MIN_SNR_DB MIN_XCORR [MAX_DELAY_STEPS]
#   MODE echo:   the caller plays speech, the trunk echoes; the caller's recording is checked
#   MODE play:   the trunk plays (loops) a WAV; the caller's recording is checked
#   MODE record: the caller plays; the trunk's per-call recording is checked
. "$(dirname "$0")/lib.sh"
MODE=$1 CODEC=$2 MIN_SNR=$3 MIN_XCORR=$4 MAX_STEPS=${5:-25}

"$WAVTOOL" gen "$T/speech.wav" --seconds 10 --seed 7
case $MODE in
  echo) start_rippd srv echo ;;
  play) start_rippd srv "play:$T/speech.wav" ;;
  record) mkdir -p "$T/rec"; start_rippd srv "record:$T/rec" ;;
esac

PLAY=""
[ "$MODE" = play ] || PLAY="--play $T/speech.wav"
# shellcheck disable=SC2086
ripp_call "$T/call.jsonl" --codec "$CODEC" $PLAY --record "$T/heard.wav" --duration 10 ||
  fail "ripp call exited $?"

outcome=$(jfield "$T/call.jsonl" outcome)
[ "$outcome" = ended_local ] || fail "outcome $outcome, want ended_local"
sent=$(jfield "$T/call.jsonl" sent)
acked=$(jfield "$T/call.jsonl" acked)
lost=$(jfield "$T/call.jsonl" lost)
[ "$sent" -ge 490 ] || fail "only $sent frames sent in 10 s"
[ "$sent" = "$acked" ] || fail "sent $sent != acked $acked"
[ "$lost" = 0 ] || fail "$lost frames lost on loopback"
pass "frames sent=$sent acked=$acked lost=$lost rtt_p99=$(jfield "$T/call.jsonl" rtt_p99_ms) ms"

case $MODE in
  record)
    id=$(call_id_of "$T/call.jsonl")
    stop_rippd "$RIPPD_PID"
    REF="$T/speech.wav" GOT=$(cdr_field "$id" recording)
    [ "$GOT" = "$T/rec/$id.wav" ] || fail "CDR recording is '$GOT'"
    ;;
  *) REF="$T/speech.wav" GOT="$T/heard.wav" ;;
esac
[ -s "$GOT" ] || fail "no recording at $GOT"
# 100 ms segments, each at its own delay: the jitter buffers may step their playout delay
# by a frame at a pause; the sound itself must be intact. The median segment SNR is what
# is held to the threshold (a frame concealed on a starved CPU damages one segment, and is
# reported in the summary's rx_concealed); the mean correlation covers every segment.
"$WAVTOOL" compare "$REF" "$GOT" --max-lag-ms 1000 --segment-ms 100 >"$T/cmp.json" ||
  fail "compare failed"
cat "$T/cmp.json"
snr=$(jfield "$T/cmp.json" seg_snr_median_db)
xcorr=$(jfield "$T/cmp.json" seg_xcorr_mean)
steps=$(jfield "$T/cmp.json" lag_changes)
speech=$(jfield "$T/cmp.json" speech_segments)
num_ge "$snr" "$MIN_SNR" || fail "SNR $snr dB < $MIN_SNR dB"
num_ge "$xcorr" "$MIN_XCORR" || fail "cross-correlation $xcorr < $MIN_XCORR"
num_ge "$MAX_STEPS" "$steps" || fail "the delay changed $steps times"
num_ge "$speech" 50 || fail "only $speech speech segments of 100 ms compared"
pass "$MODE/$CODEC: median segment SNR $snr dB (all: $(jfield "$T/cmp.json" seg_snr_db) dB), xcorr $xcorr over $speech segments, $steps delay steps, concealed $(jfield "$T/call.jsonl" rx_concealed)"
[ "$MODE" = record ] || stop_rippd "$RIPPD_PID"
