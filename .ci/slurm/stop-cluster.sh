#!/usr/bin/env bash
# Stop the CI cluster that start-cluster.sh started: slurmd, slurmctld, then munged, each by the PID
# in its pid file (never by name), waiting up to 30 s for each to exit. Then remove the slurm.conf that
# start-cluster.sh wrote: without it SLURM's client tools fail at once, instead of waiting ~10 s for a
# controller that is gone (the Snakemake SLURM plugin runs `scontrol show config` on every start).
set -euo pipefail

conf=/etc/slurm/slurm.conf

stop() {
    local pidfile="$1" pid
    [[ -s "$pidfile" ]] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "stop-cluster: $pidfile (pid $pid) did not exit, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

stop /run/slurm/slurmd.pid
stop /run/slurm/slurmctld.pid
stop /run/munge/munged.pid
if [[ -e "$conf" ]] && head -n 1 "$conf" | grep -qF "# speedy-gonzales CI:"; then
    rm -f "$conf"
fi
echo "stop-cluster: stopped"
