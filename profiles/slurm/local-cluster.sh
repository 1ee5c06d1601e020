#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, to try profiles/slurm without a real cluster.
#
#   profiles/slurm/local-cluster.sh [start]   install, configure and start it; wait until idle
#   profiles/slurm/local-cluster.sh status    say whether it is up
#   profiles/slurm/local-cluster.sh stop      stop slurmctld, slurmd and munged
#
# Needs root on Debian (or Ubuntu): it installs slurm-wlm and munge with apt where they are
# missing, writes /etc/slurm/slurm.conf for this machine (its hostname, CPUs and memory as
# `slurmd -C` measures them, no accounting database) and starts munged, slurmctld and slurmd
# without systemd. A second `start` with SLURM already up changes nothing and says so.
# It never overwrites a slurm.conf it did not write. Every failure exits non-zero and says why.
# Daemon logs: /var/log/slurm/slurmctld.log and slurmd.log.

set -uo pipefail

CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
MARK="# Written by featviz's profiles/slurm/local-cluster.sh"
STATE=/var/lib/slurm
LOGS=/var/log/slurm
MUNGE_KEY=/etc/munge/munge.key
MUNGE_RUN=/run/munge
PARTITION=local
WAIT_S=${SLURM_LOCAL_WAIT_S:-60}

say() { echo "local-cluster: $*"; }
fail() {
    echo "local-cluster: $*" >&2
    exit 1
}

node_name() { hostname -s; }

# The node's state as sinfo reports it (idle, mixed, allocated, down*, drained, ...), or nothing.
node_state() { sinfo -h -N -n "$(node_name)" -o %T 2>/dev/null | head -n 1; }

# "node vm is idle in partition local", as sinfo sees it.
describe() { sinfo -h -N -n "$(node_name)" -o "node %N is %T in partition %P" 2>/dev/null | head -n 1; }

is_up() {
    case "$(node_state)" in
    idle | mixed | allocated | completing) return 0 ;;
    *) return 1 ;;
    esac
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

show_logs() {
    for log in "$LOGS/slurmctld.log" "$LOGS/slurmd.log"; do
        [ -f "$log" ] && { echo "--- last lines of $log" >&2; tail -n 15 "$log" >&2; }
    done
}

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null 2>&1 || missing+=(slurmctld)
    command -v slurmd >/dev/null 2>&1 || missing+=(slurmd)
    command -v sbatch >/dev/null 2>&1 || missing+=(slurm-client)
    command -v munged >/dev/null 2>&1 || missing+=(munge)
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        fail "SLURM is not installed (missing: ${missing[*]}) and there is no apt-get to install it."
    say "installing slurm-wlm and munge with apt (missing: ${missing[*]})"
    local apt=(apt-get install -y -qq --no-install-recommends slurm-wlm munge)
    # Package scripts try to start the services; without systemd they only say they cannot.
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" >/tmp/local-cluster-apt.log 2>&1 ||
        { apt-get update -qq >>/tmp/local-cluster-apt.log 2>&1 &&
            DEBIAN_FRONTEND=noninteractive "${apt[@]}" >>/tmp/local-cluster-apt.log 2>&1; } ||
        { tail -n 20 /tmp/local-cluster-apt.log >&2; fail "apt-get could not install slurm-wlm and munge (log above)."; }
}

write_config() {
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        fail "$CONF exists and was not written by this script; not touching it (a real cluster's?)."
    fi
    # slurmd -C prints this machine as slurm.conf wants it: NodeName=... CPUs=... RealMemory=...
    local hardware
    hardware=$(slurmd -C 2>/dev/null | head -n 1)
    case "$hardware" in
    NodeName=*) hardware=${hardware#NodeName=* } ;;
    *)
        local mem_kb
        mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
        hardware="CPUs=$(nproc) RealMemory=$((mem_kb / 1024))"
        ;;
    esac
    local node
    node=$(node_name)
    mkdir -p "$CONF_DIR" "$STATE/slurmctld" "$STATE/slurmd" "$LOGS"
    local new
    new=$(
        cat <<EOF
$MARK for this machine alone.
ClusterName=featviz-local
SlurmctldHost=$node
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# No slurmdbd: sacct has nothing to read, so status queries use squeue, which keeps a
# finished job for MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
# No cgroups inside containers: track job processes through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$node NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=$PARTITION Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    )
    if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$new" ]; then
        printf '%s\n' "$new" >"$CONF"
        say "wrote $CONF (node $node: $hardware)"
    fi
}

start_munge() {
    if [ ! -s "$MUNGE_KEY" ]; then
        mkdir -p "$(dirname "$MUNGE_KEY")"
        mungekey --create --keyfile "$MUNGE_KEY" 2>/dev/null ||
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none ||
            fail "could not create the munge key $MUNGE_KEY."
        say "created the munge key $MUNGE_KEY"
    fi
    local owner=root
    getent passwd munge >/dev/null && owner=munge
    chown "$owner:" "$MUNGE_KEY" "$(dirname "$MUNGE_KEY")"
    chmod 700 "$(dirname "$MUNGE_KEY")"
    chmod 400 "$MUNGE_KEY"
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0
    fi
    mkdir -p "$MUNGE_RUN" /var/log/munge /var/lib/munge
    chown "$owner:" "$MUNGE_RUN" /var/log/munge /var/lib/munge
    chmod 755 "$MUNGE_RUN"
    say "starting munged"
    if [ "$owner" = munge ]; then
        runuser -u munge -- munged || fail "munged did not start (see /var/log/munge/munged.log)."
    else
        munged --force || fail "munged did not start (see /var/log/munge/munged.log)."
    fi
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 ||
        fail "munged runs but a credential does not round-trip (munge -n | unmunge)."
}

start_daemon() { # $1: daemon, $2: its pid file
    pid_alive "$2" && return 0
    say "starting $1"
    "$1" || { show_logs; fail "$1 did not start (log above)."; }
}

wait_idle() {
    local waited=0 state
    while [ "$waited" -lt "$WAIT_S" ]; do
        state=$(node_state)
        case "$state" in
        idle | mixed | allocated | completing) return 0 ;;
        drain* | down* | fail*)
            # A node left down by an earlier run: it is healthy if slurmd answers.
            [ "$waited" -gt 5 ] && scontrol update NodeName="$(node_name)" State=RESUME >/dev/null 2>&1
            ;;
        esac
        sleep 1
        waited=$((waited + 1))
    done
    echo "local-cluster: node $(node_name) is '${state:-not known to slurmctld}' after ${WAIT_S}s, not idle." >&2
    sinfo -R >&2 2>&1
    show_logs
    exit 1
}

start() {
    if command -v sinfo >/dev/null 2>&1 && is_up; then
        say "SLURM is already up: $(describe)."
        return 0
    fi
    [ "$(id -u)" = 0 ] || fail "needs root (to install packages and start daemons); you are $(id -un)."
    install_packages
    write_config
    start_munge
    start_daemon slurmctld /run/slurmctld.pid
    start_daemon slurmd /run/slurmd.pid
    wait_idle
    say "SLURM is up: $(describe)."
}

# Ends the process in pid file $1 and waits (10 s at most) until it has exited.
end_pid() {
    pid_alive "$1" || return 1
    local pid waited=0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 20 ]; do
        sleep 0.5
        waited=$((waited + 1))
    done
}

stop() {
    local stopped=0
    # The SLURM daemons first: they authenticate with munged until they have exited.
    for pidfile in /run/slurmd.pid /run/slurmctld.pid "$MUNGE_RUN/munged.pid"; do
        end_pid "$pidfile" && stopped=1
    done
    if [ "$stopped" = 1 ]; then say "stopped SLURM and munge."; else say "SLURM was not running."; fi
}

status() {
    if command -v sinfo >/dev/null 2>&1 && is_up; then
        say "SLURM is up: $(describe)."
    else
        say "SLURM is not up."
        return 1
    fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
status) status ;;
*) fail "usage: $0 [start|status|stop]" ;;
esac
