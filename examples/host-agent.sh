#!/bin/sh
# Opsbook host agent: pushes what `df -h`, `free -h`, `uptime`, `pm2 status` and `docker ps` show, as
# metrics on a heartbeat ping, so Opsbook grades them like any other check. POSIX sh and curl only.
#
# Run it from the host's cron, as often as the heartbeat's periodSeconds says:
#   */5 * * * * OPSBOOK_URL=https://ops.example.com OPSBOOK_HEARTBEAT=web-1 OPSBOOK_TOKEN=… /opt/opsbook/host-agent.sh
#
# Declare on the heartbeat every metric this sends (a ping naming an undeclared one is refused with 400):
#   heartbeats: [{ name: 'web-1', periodSeconds: 300, graceSeconds: 300, metrics: {
#     disk_used_pct: { warn: 80, fail: 90, unit: '%' }, mem_used_pct: { warn: 85, fail: 95, unit: '%' },
#     load1: { warn: 4 }, open_fds: { warn: 50000 }, pm2_not_online: { fail: 0 }, docker_not_running: { fail: 0 } } }]
# Levels are "above" (or "below" with direction): fail 0 on a count means any one fails.
#
# OPSBOOK_METRICS limits what is sent (space-separated names); by default every metric this host can measure.
# OPSBOOK_DISK_PATH is the filesystem for disk_used_pct (default /). OPSBOOK_DRY_RUN=1 prints the body
# instead of sending it.
set -eu

: "${OPSBOOK_URL:?set OPSBOOK_URL to your Opsbook deployment, e.g. https://ops.example.com}"
: "${OPSBOOK_HEARTBEAT:?set OPSBOOK_HEARTBEAT to the heartbeat name configured for this host}"
DISK_PATH="${OPSBOOK_DISK_PATH:-/}"
WANTED="${OPSBOOK_METRICS:-}"
BODY=""

# add NAME VALUE: append a metric when wanted and numeric.
add() {
  case " $WANTED " in
    "  ") ;;
    *" $1 "*) ;;
    *) return 0 ;;
  esac
  case "$2" in
    '' | *[!0-9.]*) return 0 ;;
  esac
  BODY="${BODY:+$BODY,}\"$1\":$2"
}

# Disk: the used share of the filesystem, as df reports it (POSIX output format).
disk=$(df -P "$DISK_PATH" 2>/dev/null | awk 'NR == 2 { sub(/%/, "", $5); print $5 }') || disk=""
add disk_used_pct "$disk"

# Memory: 100 - available / total, from /proc/meminfo (Linux).
if [ -r /proc/meminfo ]; then
  mem=$(awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { if (t > 0) printf "%.1f", 100 - a * 100 / t }' /proc/meminfo)
  add mem_used_pct "$mem"
fi

# Load: the one-minute load average.
if [ -r /proc/loadavg ]; then
  add load1 "$(awk '{ print $1 }' /proc/loadavg)"
fi

# Open file descriptors, system-wide (the first field of file-nr).
if [ -r /proc/sys/fs/file-nr ]; then
  add open_fds "$(awk '{ print $1 }' /proc/sys/fs/file-nr)"
fi

# pm2: processes not "online" (errored, stopped, launching…), when pm2 is installed.
if command -v pm2 >/dev/null 2>&1; then
  all=$(pm2 jlist 2>/dev/null | grep -o '"status":"[a-z_]*"' | wc -l | tr -d ' ')
  online=$(pm2 jlist 2>/dev/null | grep -o '"status":"online"' | wc -l | tr -d ' ')
  add pm2_not_online "$((all - online))"
fi

# docker: containers that exist but are not running (exited, dead, restarting), when docker answers.
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  add docker_not_running "$(docker ps -a --filter status=exited --filter status=dead --filter status=restarting -q | wc -l | tr -d ' ')"
fi

PAYLOAD="{\"metrics\":{$BODY}}"
if [ "${OPSBOOK_DRY_RUN:-}" = "1" ]; then
  printf '%s\n' "$PAYLOAD"
  exit 0
fi
: "${OPSBOOK_TOKEN:?set OPSBOOK_TOKEN to a token with the heartbeat role}"

# -f: a 400 (an undeclared metric) or 401 makes cron mail the error; --retry rides out a cold start.
curl -fsS -m 10 --retry 3 -X POST \
  -H "Authorization: Bearer $OPSBOOK_TOKEN" -H 'content-type: application/json' \
  --data "$PAYLOAD" "${OPSBOOK_URL%/}/api/heartbeats/$OPSBOOK_HEARTBEAT"
echo
