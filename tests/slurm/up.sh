#!/usr/bin/env bash
# A real single-node SLURM for the tests: Debian's slurm-wlm (22.05) + munge, a `cpu`
# (default) and a `gpu` partition, two scheduling-only GPUs (gres File=/dev/null and
# /dev/zero: SLURM sets CUDA_VISIBLE_DEVICES, nothing touches the files), no accounting.
#
#   tests/slurm/up.sh     installs the packages if missing (apt, as root), writes the
#                         config, starts munged/slurmctld/slurmd, waits until idle.
#                         Running it again with the cluster up changes nothing.
#   tests/slurm/down.sh   cancels its jobs and stops the daemons by pid.
#
# Exit codes: 0 up and idle; 3 cannot be set up here (not root, no apt, a SLURM config
# this script did not write), with the reason on stderr; anything else is a failure.
set -euo pipefail

MARKER="# musicsteer single-node test cluster (tests/slurm/up.sh)"
CONF_DIR=/etc/slurm
SLURM_CONF_FILE=$CONF_DIR/slurm.conf
GRES_CONF_FILE=$CONF_DIR/gres.conf
RUN=/run
HERE="$(cd "$(dirname "$0")" && pwd)"

cannot() { echo "slurm/up.sh: cannot set up SLURM here: $*" >&2; exit 3; }
alive() {  # pidfile name: that daemon runs (not a zombie, not a reused pid)
    local pid
    pid="$(cat "$1" 2>/dev/null)" || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] \
        && ! grep -q ') Z ' "/proc/$pid/stat" 2>/dev/null
}

wait_idle() {  # every partition's node accepts jobs (idle, or busy with earlier ones)
    local states=""
    for _ in $(seq 1 "$1"); do
        states="$(sinfo -h -o %T 2>/dev/null | sort -u | tr '\n' ' ')"
        if [ -n "$states" ] && [ -z "$(sed -E 's/(idle|mixed|allocated) //g' <<<"$states")" ]; then
            return 0
        fi
        sleep 0.5
    done
    echo "slurm/up.sh: node not idle after $1 polls: '$states'" >&2
    tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
    return 1
}

# --- the config this machine gets ---------------------------------------------------
NODE="$(hostname -s 2>/dev/null || hostname)"
# Twice the cores: a SLURM job spends much of its life starting snakemake (twice) and
# waiting for the next status check, so two jobs per core keep the CPUs busy; the group
# jobs of the profile ask for 2 CPUs and would otherwise block everything else.
CPUS=$(( 2 * $(nproc) ))
MEM_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 8 / 10 / 1024 ))
# Declared memory: at least 128 GB so that the profile's realistic mem_mb requests (32 GB
# per GPU job) schedule side by side on a small CI machine. SlurmdParameters=
# config_overrides makes slurmd accept CPUs and memory above the real ones (scheduling
# only: nothing is enforced here).
DECLARED_MB=$(( MEM_MB > 131072 ? MEM_MB : 131072 ))

slurm_conf() {
    cat <<EOF
$MARKER
ClusterName=musicsteer-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# squeue keeps finished jobs this long: snakemake's squeue status checks need it
MinJobAge=600
# jobs without --mem get this per CPU, not the whole node
DefMemPerCPU=1024
SchedulerParameters=sched_interval=1
SlurmdParameters=config_overrides
GresTypes=gpu
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS Sockets=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$DECLARED_MB Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE MaxTime=INFINITE State=UP
EOF
}

gres_conf() {
    cat <<EOF
$MARKER
AutoDetect=off
NodeName=$NODE Name=gpu File=/dev/null
NodeName=$NODE Name=gpu File=/dev/zero
EOF
}

# --- already up with this config: nothing to do --------------------------------------
if [ -f "$SLURM_CONF_FILE" ] && [ "$(cat "$SLURM_CONF_FILE")" = "$(slurm_conf)" ] \
   && [ -f "$GRES_CONF_FILE" ] && [ "$(cat "$GRES_CONF_FILE")" = "$(gres_conf)" ] \
   && alive "$RUN/munge/munged.pid" munged && alive "$RUN/slurmctld.pid" slurmctld \
   && alive "$RUN/slurmd.pid" slurmd && scontrol ping 2>/dev/null | grep -q UP; then
    wait_idle 20 && { echo "slurm/up.sh: already up ($NODE: cpu, gpu)"; exit 0; }
fi

# --- preconditions ---------------------------------------------------------------------
[ "$(id -u)" = 0 ] || cannot "needs root to install and start munge/slurm (uid $(id -u))"
if [ -f "$SLURM_CONF_FILE" ] && ! grep -qxF "$MARKER" "$SLURM_CONF_FILE"; then
    cannot "$SLURM_CONF_FILE exists and was not written by this script (a real cluster?)"
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    command -v apt-get >/dev/null || cannot "slurm-wlm/munge missing and no apt-get"
    echo "slurm/up.sh: installing slurm-wlm munge (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt_log="$(mktemp)"
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge; } \
        >"$apt_log" 2>&1; then
        tail -n 20 "$apt_log" >&2
        cannot "apt-get install slurm-wlm munge failed (no network or no Debian archive?)"
    fi
    rm -f "$apt_log"
fi

# --- (re)start from a clean state ------------------------------------------------------
bash "$HERE/down.sh" >/dev/null 2>&1 || true
mkdir -p "$CONF_DIR" /var/log/slurm
slurm_conf >"$SLURM_CONF_FILE"
gres_conf >"$GRES_CONF_FILE"
rm -rf /var/spool/slurmctld /var/spool/slurmd  # a stale DRAIN state survives restarts
mkdir -p /var/spool/slurmctld /var/spool/slurmd

install -d -o munge -g munge -m 0755 "$RUN/munge"
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge /etc/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

runuser -u munge -- /usr/sbin/munged
for _ in $(seq 1 50); do [ -S "$RUN/munge/munge.socket.2" ] && break; sleep 0.1; done
/usr/sbin/slurmctld
/usr/sbin/slurmd
wait_idle 120
echo "slurm/up.sh: up ($NODE: partitions cpu (default) and gpu, $CPUS CPUs, 2 fake GPUs)"
