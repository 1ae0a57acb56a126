#!/usr/bin/env bash
# A single-node SLURM cluster on this (Debian 12) machine, without systemd: munge + slurmctld +
# slurmd started directly. Idempotent: installs the packages only when missing, rewrites the
# config only when it changed, starts only the daemons that are not answering, and waits until
# the node takes jobs. Needs root. Used by test/rl/sweep_slurm.test.ts and docs/sweeps.md.
#
#   sudo scripts/slurm/setup.sh          # set up and start
#   scripts/slurm/setup.sh --stop        # stop the daemons this script started
#
# Why these settings: without systemd/cgroups the Linux process tracker and no task plugin are
# what works; SlurmUser=root avoids a slurm user owning the spool dirs; accounting is off (no
# slurmdbd), so `sacct` is unavailable: use `scontrol show job` or the jobs' own output.
set -euo pipefail

CONF_DIR=/etc/slurm
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOG=/var/log/slurm

log() { echo "[slurm-setup] $*" >&2; }

if [[ "${1:-}" == "--stop" ]]; then
  for f in /run/slurmd.pid /run/slurmctld.pid; do
    [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null && log "stopped $(basename "$f" .pid)"
    rm -f "$f"
  done
  exit 0
fi

if [[ $EUID -ne 0 ]]; then echo "scripts/slurm/setup.sh must run as root (it installs packages and starts daemons)" >&2; exit 1; fi

t0=$(date +%s.%N)
pkgs=()
for p in munge slurmctld slurmd slurm-client; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || pkgs+=("$p")
done
if ((${#pkgs[@]})); then
  log "installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d: the packages' postinst must not try to start services (no init system here).
  had_policy=0; [[ -f /usr/sbin/policy-rc.d ]] && had_policy=1
  ((had_policy)) || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  ((had_policy)) || rm -f /usr/sbin/policy-rc.d
fi
t1=$(date +%s.%N)

# ---- munge: key, runtime dir (created by hand: no tmpfiles.d without systemd), daemon as munge
if [[ ! -s /etc/munge/munge.key ]]; then
  log "creating /etc/munge/munge.key"
  if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key --force
  else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { echo "munged did not come up" >&2; exit 1; }
fi

# ---- slurm.conf: this node's CPUs and memory as slurmd sees them
host=$(hostname -s)
node_line=$(slurmd -C | head -1)
[[ $node_line == NodeName=* ]] || { echo "slurmd -C printed no NodeName line: $node_line" >&2; exit 1; }
install -d "$CONF_DIR" "$STATE" "$SPOOL" "$LOG"
conf=$(cat <<EOF
# Written by scripts/slurm/setup.sh (single node, no systemd, no accounting).
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
MaxArraySize=100001
$node_line State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
)
changed=0
if [[ ! -f $CONF_DIR/slurm.conf ]] || [[ "$(cat "$CONF_DIR/slurm.conf")" != "$conf" ]]; then
  printf '%s\n' "$conf" >"$CONF_DIR/slurm.conf"; changed=1; log "wrote $CONF_DIR/slurm.conf"
fi

running() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
if ((changed)); then
  # A changed config needs fresh daemons.
  for f in /run/slurmd.pid /run/slurmctld.pid; do running "$f" && kill "$(cat "$f")" && sleep 0.5; done
fi
running /run/slurmctld.pid || { log "starting slurmctld"; slurmctld; }
running /run/slurmd.pid || { log "starting slurmd"; slurmd; }

# Wait until the node takes jobs (idle or mixed/allocated); resume it if it came up DOWN.
for i in $(seq 100); do
  st=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
  case "$st" in
    idle*|mix*|alloc*) break ;;
    down*|drain*) scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 0.2
done
st=$(sinfo -h -N -o '%T' | head -1)
case "$st" in idle*|mix*|alloc*) ;; *) echo "node $host is '$st', not taking jobs (see $LOG/slurmctld.log)" >&2; exit 1 ;; esac
t2=$(date +%s.%N)
log "ready: node $host $st; install $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s, start $(awk "BEGIN{printf \"%.1f\", $t2 - $t1}") s"
