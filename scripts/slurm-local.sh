#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for testing `modrepro slurm` against the real
# scheduler: installs Debian's slurmctld, slurmd, slurm-client and munge, writes a slurm.conf
# for one node with this machine's CPUs, starts the daemons and waits until the node is idle.
# Needs root. Idempotent: a running cluster is left as it is.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
    echo "slurm-local.sh: needs root (apt-get and the daemons)" >&2
    exit 1
fi
if command -v sinfo > /dev/null && sinfo -h -o %T 2> /dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "slurm is already up: $(sinfo -h -o '%N %T %c CPUs')"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge > /dev/null

# munge authenticates the daemons to each other.
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge
pgrep -x munged > /dev/null || runuser -u munge -- /usr/sbin/munged

host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=${host}
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=${host} CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

pgrep -x slurmctld > /dev/null || /usr/sbin/slurmctld
pgrep -x slurmd > /dev/null || /usr/sbin/slurmd
for _ in $(seq 1 120); do
    if sinfo -h -o %T 2> /dev/null | grep -qE '^idle'; then
        echo "slurm is up: $(sinfo -h -o '%N %T %c CPUs')"
        exit 0
    fi
    sleep 1
done
echo "slurm-local.sh: the node did not become idle; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1
