# shellcheck shell=bash
# Shared by tuning/check, tuning/apply and tuning/irq-affinity: reading the sysctl profile,
# comparing values, CPU lists and NIC interrupts. Sourced, never run. Read-only: nothing here
# writes to the system.
#
# ADSHARD_TUNING_PROC and ADSHARD_TUNING_SYS replace /proc and /sys (tests point them at a
# scratch copy so that apply, revert and irq-affinity can be exercised without touching the
# host).

proc_root=${ADSHARD_TUNING_PROC:-/proc}
sys_root=${ADSHARD_TUNING_SYS:-/sys}
tuning_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
profile_default="$tuning_dir/sysctl.d/60-adshard.conf"

# Prints "key<TAB>mode<TAB>value" for every setting of profile $1, where mode is "min" for
# settings documented "at least." (a floor) and "exact" otherwise. The comment above a
# setting is the single place its mode is written, so check and apply cannot disagree.
profile_settings() {
  local file=$1 line key value mode=exact
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      "# at least."*) mode=min; continue ;;
      "# exact."*) mode=exact; continue ;;
      "#"* | ";"* | "") continue ;;
    esac
    [[ $line == *=* ]] || continue
    key=${line%%=*}
    value=${line#*=}
    key=$(normalize "$key")
    value=$(normalize "$value")
    [ -n "$key" ] || continue
    printf '%s\t%s\t%s\n' "$key" "$mode" "$value"
  done <"$file"
}

# Collapses runs of blanks and tabs into one space and trims, as sysctl prints values.
normalize() {
  local words
  read -r -a words <<<"$1" || true
  printf '%s' "${words[*]-}"
}

sysctl_path() {
  printf '%s/sys/%s' "$proc_root" "${1//.//}"
}

# Prints the current value of sysctl $1, normalized; fails when it does not exist here (a
# kernel without it, or a network namespace that hides it).
read_sysctl() {
  local path value
  path=$(sysctl_path "$1")
  [ -r "$path" ] || return 1
  value=$(<"$path") || return 1
  normalize "$value"
}

# Succeeds when current value $2 satisfies recommended value $3 under mode $1.
satisfies() {
  local mode=$1 current=$2 recommended=$3
  if [ "$mode" = min ] && is_uint "$current" && is_uint "$recommended"; then
    [ "$current" -ge "$recommended" ]
  else
    [ "$current" = "$recommended" ]
  fi
}

is_uint() {
  [[ $1 =~ ^[0-9]+$ ]] && [ "${#1}" -le 18 ]
}

# Expands a CPU list ("0-3,8,10-11") into one number per line; fails on a malformed list.
expand_cpulist() {
  local list=$1 part from to cpu
  local -a parts
  [ -n "$list" ] || return 1
  IFS=, read -r -a parts <<<"$list"
  for part in "${parts[@]}"; do
    if [[ $part =~ ^([0-9]+)-([0-9]+)$ ]]; then
      from=${BASH_REMATCH[1]} to=${BASH_REMATCH[2]}
      [ "$from" -le "$to" ] || return 1
      for ((cpu = from; cpu <= to; cpu++)); do echo "$cpu"; done
    elif [[ $part =~ ^[0-9]+$ ]]; then
      echo "$part"
    else
      return 1
    fi
  done
}

# Joins CPU numbers (one per argument, any order) into the kernel's list form ("0-3,8").
compress_cpulist() {
  local out="" start="" prev="" cpu
  local -a sorted
  mapfile -t sorted < <(printf '%s\n' "$@" | sort -n -u)
  for cpu in "${sorted[@]}"; do
    [ -n "$cpu" ] || continue
    if [ -z "$start" ]; then
      start=$cpu prev=$cpu
    elif [ "$cpu" -eq $((prev + 1)) ]; then
      prev=$cpu
    else
      out+="${out:+,}$(range_text "$start" "$prev")"
      start=$cpu prev=$cpu
    fi
  done
  [ -z "$start" ] || out+="${out:+,}$(range_text "$start" "$prev")"
  printf '%s' "$out"
}

range_text() {
  if [ "$1" = "$2" ]; then printf '%s' "$1"; else printf '%s-%s' "$1" "$2"; fi
}

online_cpus() {
  local online
  online=$(<"$sys_root/devices/system/cpu/online")
  expand_cpulist "$online"
}

# Network interfaces backed by a device (not lo, bridges, veth, ifb, tunnels).
physical_nics() {
  local dev
  for dev in "$sys_root"/class/net/*; do
    [ -e "$dev/device" ] && echo "${dev##*/}"
  done
  return 0
}

# IRQ numbers of interface $1, one per line: the MSI vectors of its PCI function (for virtio
# NICs the PCI function is the parent of the virtio device, and its config vector is
# included), else the lines of /proc/interrupts that name the interface.
nic_irqs() {
  local nic=$1 device dir
  device=$(readlink -f "$sys_root/class/net/$nic/device")
  for dir in "$device/msi_irqs" "$device/../msi_irqs"; do
    if [ -d "$dir" ] && [ -n "$(find "$dir" -mindepth 1 -maxdepth 1 -print -quit)" ]; then
      find "$dir" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n
      return 0
    fi
  done
  awk -v nic="$nic" '$1 ~ /^[0-9]+:$/ && $NF ~ "^" nic "([-@]|$)" { sub(":", "", $1); print $1 }' \
    "$proc_root/interrupts"
}

# The CPUs an IRQ may run on, from smp_affinity_list; fails when the IRQ has no entry.
irq_affinity() {
  local file="$proc_root/irq/$1/smp_affinity_list"
  [ -r "$file" ] || return 1
  normalize "$(<"$file")"
}

# Scans /proc directly: pgrep (procps) is not on minimal images, and a missing tool must not
# read as "not running".
irqbalance_running() {
  local comm_file comm
  for comm_file in /proc/[0-9]*/comm; do
    comm=""
    read -r comm <"$comm_file" 2>/dev/null || true
    [ "$comm" != irqbalance ] || return 0
  done
  return 1
}

# Sets the arrays `shards` (CPUs the shards use: list $1, or every online CPU when $1 is
# empty), `online` and `spare` (online CPUs that are not shard CPUs). Fails on a malformed list
# or a CPU that is not online.
resolve_shard_cpus() {
  local list=$1 text cpu
  mapfile -t online < <(online_cpus)
  if [ -z "$list" ]; then
    shards=("${online[@]}")
  else
    text=$(expand_cpulist "$list") || { echo "bad CPU list: $list" >&2; return 1; }
    mapfile -t shards < <(printf '%s\n' "$text" | sort -n -u)
  fi
  spare=()
  for cpu in "${shards[@]}"; do
    case " ${online[*]} " in *" $cpu "*) ;; *) echo "cpu $cpu is not online (online: $(compress_cpulist "${online[@]}"))" >&2; return 1 ;; esac
  done
  for cpu in "${online[@]}"; do
    case " ${shards[*]} " in *" $cpu "*) ;; *) spare+=("$cpu") ;; esac
  done
}
