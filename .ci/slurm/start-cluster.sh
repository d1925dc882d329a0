#!/usr/bin/env bash
# Start a single-node SLURM cluster on localhost for CI (Debian 12: Slurm 22.05 and munge, no systemd).
# Needs root. Installs the Debian packages when missing, writes /etc/slurm/slurm.conf from
# slurm.conf.in, starts munged, slurmctld and slurmd (each writes a pid file, see stop-cluster.sh)
# and waits until the node is idle. Running it again while the cluster is up does nothing.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
conf=/etc/slurm/slurm.conf
marker="# speedy-gonzales CI:"
wait_s="${SLURM_START_TIMEOUT:-60}"

die() { echo "start-cluster: $*" >&2; exit 1; }
running() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

[[ "$(id -u)" == 0 ]] || die "must run as root"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    echo "start-cluster: installing munge and slurm (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends munge slurmctld slurmd slurm-client >/dev/null
fi

# Never overwrite a slurm.conf that this script did not write: it may belong to a real cluster.
if [[ -e "$conf" ]] && ! head -n 1 "$conf" | grep -qF "$marker"; then
    die "$conf exists and was not written by this script; refusing to replace it"
fi

host="$(hostname -s)"
cpus="$(nproc)"
memory=$(( $(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) - 2048 ))
mkdir -p /etc/slurm
sed -e "s/@HOST@/$host/g" -e "s/@CPUS@/$cpus/g" -e "s/@MEMORY@/$memory/g" "$here/slurm.conf.in" > "$conf.new"
mv "$conf.new" "$conf"

install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
install -d -o slurm -g slurm -m 0755 /run/slurm /var/lib/slurm /var/lib/slurm/slurmctld /var/log/slurm
install -d -o root -g root -m 0755 /var/lib/slurm/slurmd
if [[ ! -s /etc/munge/munge.key ]]; then
    install -d -o munge -g munge -m 0700 /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi

running /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged
running /run/slurm/slurmctld.pid || /usr/sbin/slurmctld -c
running /run/slurm/slurmd.pid || /usr/sbin/slurmd

for _ in $(seq "$wait_s"); do
    state="$(sinfo -h -o %T 2>/dev/null || true)"
    if [[ "$state" == idle* || "$state" == mixed* || "$state" == allocated* ]]; then
        echo "start-cluster: node $host is $state ($cpus CPUs, $memory MiB)"
        exit 0
    fi
    sleep 1
done
echo "start-cluster: node not idle after ${wait_s}s (state: ${state:-none}); last log lines:" >&2
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
