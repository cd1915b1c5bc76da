#!/usr/bin/env bash
# Regenerate data/measured/: every experiment on every host setting (GICv2/GICv3 x
# nVHE/VHE/protected x kvm.halt_poll_ns default/0), one QEMU boot per setting.
# GICv2 in protected mode is skipped: Linux refuses it ("GICv2 not supported in protected
# mode", vgic_v2_probe), so /dev/kvm has no vgic-v2 there.
# Usage: measure/collect-all.sh [OUTDIR] [extra irqfwd measure options...]
# Takes about 20-30 minutes on a 2-core machine.  Each file is written atomically.
set -u
cd "$(dirname "$0")/.."
out=${1:-data/measured}; shift || true
IRQFWD=${IRQFWD:-.venv/bin/irqfwd}
status=0
for gic in v2 v3; do
  for mode in nvhe vhe protected; do
    for poll in default 0; do
      [ "$gic" = v2 ] && [ "$mode" = protected ] && continue
      key="gic${gic}-${mode}-poll_${poll}"
      args=(-e all --host-gic "$gic" --mode "$mode" -n 50 --reps 3 --out "$out/$key.json")
      [ "$poll" = 0 ] && args+=(--halt-poll-ns 0)
      echo "=== $key: $(date -u +%H:%M:%S)"
      # one more try after a failure (the failed boot's log is kept and named in the output)
      for try in 1 2; do
        if IRQFWD_ACCEL=off "$IRQFWD" measure "${args[@]}" "$@" > "$out/.$key.txt" 2>&1; then
          break
        fi
        echo "FAILED (try $try): $key"; tail -3 "$out/.$key.txt"
        [ $try = 2 ] && status=1
      done
    done
  done
done
exit $status
