#!/usr/bin/env bash
# Stop the test cluster of tests/slurm/up.sh: cancel its jobs, then stop slurmd,
# slurmctld and munged by the pids in their pid files, and removes the config files
# up.sh wrote: with a slurm.conf naming a controller that is down, every `snakemake`
# start (the SLURM plugin runs `scontrol show config`) waits 9 s. Running it twice is fine.
set -uo pipefail

MARKER="# musicsteer single-node test cluster (tests/slurm/up.sh)"
RUN=/run

running() {  # pid name: that process runs (not a zombie, not a reused pid)
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null
}

stop() {  # pidfile name: TERM, wait up to 10 s, then KILL
    local file=$1 name=$2 pid
    [ -f "$file" ] || return 0
    pid="$(cat "$file")"
    if [ -n "$pid" ] && running "$pid" "$name"; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 1 100); do running "$pid" "$name" || break; sleep 0.1; done
        running "$pid" "$name" && kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$file"
}

# Only a cluster that up.sh configured: never touch a real one.
if [ -f /etc/slurm/slurm.conf ] && ! grep -qxF "$MARKER" /etc/slurm/slurm.conf; then
    echo "slurm/down.sh: /etc/slurm/slurm.conf was not written by up.sh; leaving it alone" >&2
    exit 3
fi

if [ -f "$RUN/slurmctld.pid" ] && running "$(cat "$RUN/slurmctld.pid")" slurmctld; then
    timeout 10 scancel --full "--user=$(id -un)" 2>/dev/null || true
    for _ in $(seq 1 50); do  # let slurmd reap the job steps
        [ -z "$(timeout 5 squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null)" ] && break
        sleep 0.2
    done
fi
stop "$RUN/slurmd.pid" slurmd
stop "$RUN/slurmctld.pid" slurmctld
stop "$RUN/munge/munged.pid" munged
for conf in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
    [ -f "$conf" ] && grep -qxF "$MARKER" "$conf" && rm -f "$conf"
done
echo "slurm/down.sh: stopped"
