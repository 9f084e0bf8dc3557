#!/usr/bin/env bash
# `make kind-docker`: make sure a Docker engine runs here, for the kind targets.
#
# - An engine already answers (a laptop with Docker Desktop, a CI runner with Docker): nothing.
# - Otherwise, as root where apt works (our CI machines): install Debian's docker.io, start
#   dockerd in the background (log in /var/log/zonal-dockerd.log).
# - If `docker run --privileged` then fails with "unable to apply caps" (the machine's capability
#   bounding set lacks CAP_SYS_RESOURCE, which --privileged asks for), register a runc wrapper
#   as dockerd's default runtime that drops CAP_SYS_RESOURCE from each container's capability
#   lists (hack/kind/runc-drop-sys-resource), and restart dockerd.
# Prints what it did. Running it again does nothing more.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[kind-docker] %s\n' "$*" >&2; }
probe_image="${KIND_DOCKER_PROBE_IMAGE:-zonal-operator/probe:scratch}"

engine_up() { docker info >/dev/null 2>&1; }

start_dockerd() {
  log "starting dockerd (log: /var/log/zonal-dockerd.log)"
  # setsid: dockerd outlives this script and the make that ran it. It keeps none of their
  # other open files either: an inherited lock or pipe would stay held as long as dockerd runs.
  (
    for fd in /proc/self/fd/*; do
      fd="${fd##*/}"
      if ((fd > 2)); then eval "exec ${fd}>&-" 2>/dev/null || true; fi
    done
    exec setsid nohup dockerd >>/var/log/zonal-dockerd.log 2>&1 </dev/null
  ) &
  for _ in $(seq 60); do engine_up && return 0; sleep 1; done
  log "dockerd did not answer within 60 s; see /var/log/zonal-dockerd.log"
  exit 1
}

if engine_up; then
  log "a Docker engine is running: $(docker version --format '{{.Server.Version}}')"
else
  if ! command -v dockerd >/dev/null; then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
      log "no Docker engine runs and Debian's docker.io cannot be installed here (needs root and apt):"
      log "install Docker (https://docs.docker.com/engine/install/) and run this again"
      exit 1
    fi
    log "installing Debian's docker.io"
    # The package lists are refreshed only when the install fails without (absent or stale).
    install=(apt-get install -y -qq --no-install-recommends docker.io)
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    "${install[@]}" >/dev/null 2>&1 || { apt-get update -qq && "${install[@]}" >/dev/null; }
  fi
  start_dockerd
fi

# A privileged container, as kind's nodes are. The probe image is an empty image with no
# command to run: the capability setup fails before the command would be looked up, so
# "executable file not found" means the capabilities were applied.
privileged_ok() {
  local out
  out="$(docker run --rm --privileged "${probe_image}" /probe 2>&1)" && return 0
  if grep -q 'unable to apply caps' <<<"${out}"; then return 1; fi
  grep -qE 'executable file not found|no such file or directory' <<<"${out}" && return 0
  log "unexpected answer of the privileged probe: ${out}"
  exit 1
}
if ! docker image inspect "${probe_image}" >/dev/null 2>&1; then
  tar -cf - --files-from /dev/null | docker import - "${probe_image}" >/dev/null
fi

if privileged_ok; then
  log "privileged containers work"
  exit 0
fi

wrapper=/usr/local/sbin/runc-drop-sys-resource
log "privileged containers fail (CAP_SYS_RESOURCE is not in this machine's bounding set):"
log "installing ${wrapper} as dockerd's default runtime"
real_runc="$(command -v runc)"
sed "s|@REAL_RUNC@|${real_runc}|" "${here}/runc-drop-sys-resource" >"${wrapper}"
chmod 0755 "${wrapper}"
python3 - "${wrapper}" <<'PY'
import json, pathlib, sys
path = pathlib.Path("/etc/docker/daemon.json")
config = json.loads(path.read_text()) if path.exists() else {}
config.setdefault("runtimes", {})["zonal-runc"] = {"path": sys.argv[1]}
config["default-runtime"] = "zonal-runc"
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps(config, indent=2) + "\n")
PY
log "restarting dockerd"
if systemctl is-active --quiet docker 2>/dev/null; then
  systemctl restart docker
else
  pid="$(pgrep -xo dockerd)"
  kill "${pid}"
  while kill -0 "${pid}" 2>/dev/null; do sleep 0.5; done
  start_dockerd
fi
if privileged_ok; then
  log "privileged containers work with the wrapper"
else
  log "privileged containers still fail with the wrapper"
  exit 1
fi
