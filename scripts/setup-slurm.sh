#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine for the Slurm tests (Debian's slurm-wlm and
# munge, installed here if missing: needs root and apt). Idempotent: a cluster it already
# started is reused. Prints the path of the slurm.conf to export as SLURM_CONF.
# State, spool and logs live under $SEQSYNTH_SLURM_DIR (default /tmp/seqsynth-slurm).
set -euo pipefail
dir="${SEQSYNTH_SLURM_DIR:-/tmp/seqsynth-slurm}"
conf="$dir/slurm.conf"
export SLURM_CONF="$conf"
if [ -f "$conf" ] && timeout 10 sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
  echo "$conf"
  exit 0
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "slurm-wlm and munge are not installed and this is not a root Debian machine" >&2
    exit 1
  fi
  echo "installing slurm-wlm and munge (Debian packages)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >&2; }
fi
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
host="$(hostname -s)"
cpus="$(nproc)"
mem="$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))"
cat > "$conf" <<CONF
ClusterName=seqsynth
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# munge: a key, then the daemon (as the munge user when there is one)
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
if id munge >/dev/null 2>&1; then
  chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
  chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
  pgrep -x munged >/dev/null || runuser -u munge -- munged
else
  pgrep -x munged >/dev/null || munged --force
fi
# only the daemons this script started before (their pid files), never a site's own Slurm
for d in slurmctld slurmd; do
  if [ -s "$dir/$d.pid" ]; then kill "$(cat "$dir/$d.pid")" 2>/dev/null || true; fi
done
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
  echo "a Slurm daemon that this script did not start is running here; not starting another" >&2
  exit 1
fi
sleep 1
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 1 60); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "$conf"
    exit 0
  fi
  sleep 1
done
echo "Slurm did not come up; logs:" >&2
tail -20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
exit 1
