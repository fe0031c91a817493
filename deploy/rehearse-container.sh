#!/usr/bin/env bash
# Rehearse the Dockerfile without Docker: play its steps in a Debian bookworm chroot, then start
# the service from the result and check it the way the container would be checked.
#
#   sudo deploy/rehearse-container.sh [WORK_FOLDER]      (default /tmp/mimamori-rootfs)
#   sudo MIMAMORI_DOCKERFILE=/tmp/Dockerfile.other deploy/rehearse-container.sh
#
# Why: the development machines and CI have no Docker daemon and no route to Docker Hub, so the
# image has only ever been checked from its text (tests/architecture/test_container.py). This
# script checks what the text cannot: that the apt packages exist and are enough for LightGBM
# (OpenMP) and WeasyPrint (Pango, HarfBuzz), that the folders the Dockerfile copies are all the
# service imports, that the lock installs with no compiler, and that the CMD and the HEALTHCHECK
# work as uid 10001 with /data as the only writable place.
#
# What stands in for what:
#   python:3.11-slim-bookworm -> `debootstrap --variant=minbase bookworm` (how Docker's Debian
#                        images are built; the Dockerfile pins bookworm because the floating
#                        python:3.11-slim tag moved to trixie in August 2025) + Debian's python3 (3.11.2) + a venv at /opt/venv whose
#                        bin/ comes first on PATH. The image has no venv: its python and pip live in
#                        /usr/local/bin. The venv only gives the Dockerfile's bare `pip` and
#                        `python` a 3.11 to resolve to without touching Debian's own python3.
#   RUN               -> `/bin/sh -c` in the chroot, in WORKDIR, with the Dockerfile's ENV, as the
#                        current USER: the very text of the Dockerfile, nothing retyped here.
#   COPY              -> cp from the work tree (the build context), minus .dockerignore, owned by
#                        root as Docker's COPY leaves it.
#   USER/HEALTHCHECK/CMD -> read from the Dockerfile and run as that user.
# Anything in the Dockerfile this script does not understand (ARG, ADD, COPY --chown, a second
# FROM, ...) stops the rehearsal rather than being skipped, so it cannot pass by ignoring a step.
#
# The work folder keeps base/ (the stand-in for the base image, built once and reused) and
# image/ (a fresh copy of base/ on every run, so a package dropped from the Dockerfile is really
# gone the next time rather than left behind by the previous run).
#
# Needs root (debootstrap, chroot, mounts), the Debian mirror and PyPI. Takes 3 to 4 minutes
# the first time (debootstrap), about 2 after; most of it is installing the lock.
# shellcheck disable=SC2317  # the checks and the clean-up are called indirectly (check, trap)
set -euo pipefail

# Heavy (debootstrap, dpkg, pip) but shares the machine: run everything at lower priority.
if [[ -z ${MIMAMORI_REHEARSAL_NICED:-} ]]; then
    export MIMAMORI_REHEARSAL_NICED=1
    exec nice -n 10 "$0" "$@"
fi

WORK=${1:-/tmp/mimamori-rootfs}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Another Dockerfile may be rehearsed against the same build context (the repository), e.g. a
# copy with a package removed, to see that the rehearsal does catch it.
DOCKERFILE=${MIMAMORI_DOCKERFILE:-$REPO/Dockerfile}
SUITE=bookworm
MIRROR=${MIMAMORI_DEBIAN_MIRROR:-}   # empty: debootstrap's own default mirror
BASE=$WORK/base
IMAGE=$WORK/image
VENV=/opt/venv
# The pip CPython 3.11's ensurepip has bundled since 3.11.9, so (as far as can be told without
# pulling it) the one python:3.11-slim carries; Debian's venv would otherwise give pip 23.0.1.
BASE_PIP=pip==24.0
PORT=18000                      # not the image's 8000, so a developer's own server can keep it
START_TIMEOUT=180               # seconds for the service to answer /healthz
SERVER_PID=
MOUNTED=()
RESULTS=()
FAILED=0
T0=$SECONDS

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'rehearse-container: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (debootstrap, chroot and bind mounts)"
[[ -f $DOCKERFILE ]] || die "no Dockerfile at $DOCKERFILE"

# --- mounts and clean-up ---------------------------------------------------------------------

mount_into() {  # ROOT: the kernel file systems a chroot needs (dpkg scripts, Python, /dev/shm)
    local root=$1 fs
    for fs in proc dev sys; do
        mountpoint -q "$root/$fs" && continue
        if [[ $fs == proc ]]; then
            mount --bind /proc "$root/proc"
        else
            # rbind so /dev/shm and /dev/pts come along; rslave so unmounting here never
            # propagates back to the host's /dev or /sys.
            mount --rbind "/$fs" "$root/$fs"
            mount --make-rslave "$root/$fs"
        fi
        MOUNTED+=("$root/$fs")
    done
}

unmount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount -R "${MOUNTED[i]}" 2>/dev/null || umount -lR "${MOUNTED[i]}" || true
    done
    MOUNTED=()
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

cleanup() { stop_server; unmount_all; }
trap cleanup EXIT
trap 'exit 130' INT TERM

nothing_mounted_under() {  # refuse to delete a folder while /dev or /proc is bound inside it
    ! awk -v p="$1/" 'index($2, p) == 1 { found = 1 } END { exit !found }' /proc/mounts
}

# The machine's TLS may be re-signed by an egress proxy whose CA only the host trusts (PIP_CERT).
# Hand pip the same bundle inside the chroot; a normal `docker build` needs no such thing.
HOST_PIP_CERT=${PIP_CERT:-}
pip_cert_env() {  # ROOT -> prints PIP_CERT=... (or nothing)
    [[ -n $HOST_PIP_CERT && -f $HOST_PIP_CERT ]] || return 0
    install -D -m 644 "$HOST_PIP_CERT" "$1/etc/ssl/certs/rehearsal-host-ca.pem"
    echo "PIP_CERT=/etc/ssl/certs/rehearsal-host-ca.pem"
}

# --- the base image's stand-in -----------------------------------------------------------------

build_base() {
    if [[ -f $WORK/base.done ]]; then
        say "reusing $BASE (delete $WORK/base.done to rebuild it)"
        return
    fi
    command -v debootstrap >/dev/null || {
        say "installing debootstrap on the host"
        apt-get update -qq && apt-get install -y -qq debootstrap
    }
    if [[ -e $BASE ]]; then
        nothing_mounted_under "$BASE" || die "$BASE has mounts inside; unmount them first"
        rm -rf "$BASE"
    fi
    mkdir -p "$WORK"
    say "debootstrap --variant=minbase $SUITE -> $BASE"
    debootstrap --variant=minbase "$SUITE" "$BASE" ${MIRROR:+"$MIRROR"} >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log $WORK/debootstrap.log)"; }
    MIRROR=$(awk '$1 == "deb" { print $2; exit }' "$BASE/etc/apt/sources.list")
    [[ -n $MIRROR ]] || die "no mirror in the debootstrapped sources.list"

    # The sources python:3.11-slim (debian:bookworm-slim) has: release, updates and security.
    rm -f "$BASE/etc/apt/sources.list"
    cat >"$BASE/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # As in Docker's Debian images: packages never start services inside the build.
    printf '#!/bin/sh\nexit 101\n' >"$BASE/usr/sbin/policy-rc.d"
    chmod 755 "$BASE/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$BASE/etc/resolv.conf"

    mount_into "$BASE"
    say "base: Debian python3 + python3-venv, and what the python image adds (certificates, tzdata)"
    # --no-install-recommends keeps the stand-in as bare as the slim image, so a library the
    # Dockerfile forgot cannot be present by accident.
    chroot "$BASE" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends \
                 python3 python3-venv ca-certificates netbase tzdata >/dev/null \
               && apt-get clean && rm -rf /var/lib/apt/lists/*'
    local cert
    cert=$(pip_cert_env "$BASE")
    chroot "$BASE" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root ${cert:+"$cert"} \
        sh -c "python3 -m venv $VENV && $VENV/bin/pip install -q --no-cache-dir '$BASE_PIP'"
    rm -f "$BASE/etc/ssl/certs/rehearsal-host-ca.pem"
    unmount_all
    touch "$WORK/base.done"
}

# --- reading the Dockerfile -------------------------------------------------------------------

instructions() {  # one instruction per line: continuations joined, comment lines dropped
    awk '
        /^[[:space:]]*#/ { next }
        buf == "" && /^[[:space:]]*$/ { next }
        {
            line = $0
            if (line ~ /\\[[:space:]]*$/) { sub(/\\[[:space:]]*$/, "", line); buf = buf line " "; next }
            print buf line; buf = ""
        }
        END { if (buf != "") print buf }
    ' "$DOCKERFILE"
}

DOCKER_ENV=()      # KEY=value from ENV, in order
WORKDIR=/
USER_NAME=root
HEALTHCHECK_JSON=
CMD_JSON=

set_env() {  # KEY=value: replace or append
    local i key=${1%%=*}
    for i in "${!DOCKER_ENV[@]}"; do
        [[ ${DOCKER_ENV[i]%%=*} == "$key" ]] && { DOCKER_ENV[i]=$1; return; }
    done
    DOCKER_ENV+=("$1")
}

user_spec() {  # NAME -> uid:gid:home from the image's /etc/passwd (as Docker's USER resolves it)
    local entry
    entry=$(awk -F: -v u="$1" '$1 == u || $3 == u { print $3 ":" $4 ":" $6; exit }' "$IMAGE/etc/passwd")
    [[ -n $entry ]] || die "USER $1 is not in the image's /etc/passwd"
    echo "$entry"
}

CERT_ENV=
IMG_CMD=()
image_cmd() {  # [--as NAME] [--cd DIR] CMD...: set IMG_CMD to run CMD in the image as Docker would
    local as=$USER_NAME dir=$WORKDIR spec uid gid home
    while [[ $1 == --* ]]; do
        case $1 in
            --as) as=$2; shift 2 ;;
            --cd) dir=$2; shift 2 ;;
        esac
    done
    spec=$(user_spec "$as")
    IFS=: read -r uid gid home <<<"$spec"
    # Docker's environment: the image's PATH (the venv standing in for /usr/local/bin), LANG
    # from the python image, HOME from passwd, then the Dockerfile's ENV. chroot and env both
    # exec, so a command started in the background keeps its pid (the server's, for `kill`).
    IMG_CMD=(chroot --userspec="$uid:$gid" "$IMAGE" /usr/bin/env -i -C "$dir"
        PATH="$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        LANG=C.UTF-8 HOME="$home" ${CERT_ENV:+"$CERT_ENV"} "${DOCKER_ENV[@]}" "$@")
}
in_image() { image_cmd "$@"; "${IMG_CMD[@]}" </dev/null; }

IGNORE=()          # .dockerignore patterns, normalised
read_dockerignore() {
    local line
    [[ -f $REPO/.dockerignore ]] || return 0
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}
        line=$(echo "$line" | xargs)   # trim
        [[ -z $line ]] && continue
        [[ $line == !* ]] && die ".dockerignore exception '$line' is not supported by this rehearsal"
        line=${line#/}; line=${line#./}; line=${line%/}
        local rest=${line#\*\*/}
        [[ $rest == *[\*\?\[]* ]] && die ".dockerignore pattern '$line' is not supported by this rehearsal"
        IGNORE+=("$line")
    done <"$REPO/.dockerignore"
}

copy_step() {  # the arguments of one COPY
    local -a args
    read -r -a args <<<"$1"
    [[ ${args[0]} == --* ]] && die "COPY option ${args[0]} is not supported by this rehearsal"
    [[ ${args[0]} == \[* ]] && die "COPY in JSON form is not supported by this rehearsal"
    local n=${#args[@]} dest=${args[-1]} src target pat
    [[ $dest == /* ]] || dest=$WORKDIR/$dest
    for src in "${args[@]:0:n-1}"; do
        [[ $src == *[\*\?\[]* ]] && die "COPY source '$src' with a wildcard is not supported"
        src=${src#./}; src=${src%/}
        for pat in "${IGNORE[@]}"; do  # an ignored source is not in the build context at all
            if [[ $pat != \*\*/* && ($src == "$pat" || $src == "$pat"/*) ]]; then
                echo "COPY $src: excluded by .dockerignore ($pat), so not in the build context" >&2
                return 1
            fi
        done
        [[ -e $REPO/$src ]] || { echo "COPY $src: no such file in the build context" >&2; return 1; }
        if [[ -d $REPO/$src ]]; then
            target=$dest                        # a folder's contents go into dest
            mkdir -p "$IMAGE$target"
            cp -a "$REPO/$src/." "$IMAGE$target/"
            for pat in "${IGNORE[@]}"; do
                if [[ $pat == \*\*/* ]]; then
                    find "$IMAGE$target" -name "${pat#\*\*/}" -prune -exec rm -rf {} +
                elif [[ $pat == "$src"/* ]]; then
                    rm -rf "${IMAGE:?}$target/${pat#"$src"/}"
                fi
            done
        elif [[ $dest == */ || $n -gt 2 ]]; then
            target=${dest%/}/$(basename "$src")
            mkdir -p "$IMAGE${dest%/}"
            cp -a "$REPO/$src" "$IMAGE$target"
        else
            target=$dest
            mkdir -p "$(dirname "$IMAGE$target")"
            cp -a "$REPO/$src" "$IMAGE$target"
        fi
        chown -R 0:0 "$IMAGE$target"            # COPY without --chown: root owns it
    done
}

play_dockerfile() {
    local keyword rest step=0 froms=0 tokens token
    while IFS= read -r -u 3 line; do
        step=$((step + 1))
        keyword=${line%%[[:space:]]*}
        keyword=${keyword^^}
        rest=$(echo "${line#*[[:space:]]}" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
        printf '\n-- step %d: %s %s\n' "$step" "$keyword" "$(echo "$rest" | cut -c1-110)" >&2
        case $keyword in
            FROM)
                froms=$((froms + 1))
                [[ $froms == 1 ]] || die "multi-stage builds are not supported by this rehearsal"
                echo "   stood in by $SUITE minbase + Debian python3 + venv $VENV" >&2
                ;;
            ENV)
                [[ $rest == *[\"\']* ]] && die "quoted ENV values are not supported by this rehearsal"
                read -r -a tokens <<<"$rest"
                for token in "${tokens[@]}"; do
                    [[ $token == *=* ]] || die "ENV '$token' is not KEY=value"
                    set_env "$token"
                done
                ;;
            RUN)
                [[ $rest == \[* ]] && die "RUN in JSON form is not supported by this rehearsal"
                mkdir -p "$IMAGE$WORKDIR"
                in_image /bin/sh -c "$rest" || { echo "RUN failed (step $step)" >&2; return 1; }
                ;;
            WORKDIR)
                [[ $rest == /* ]] && WORKDIR=$rest || WORKDIR=$WORKDIR/$rest
                mkdir -p "$IMAGE$WORKDIR"
                ;;
            COPY) copy_step "$rest" || return 1 ;;
            USER) USER_NAME=$rest; user_spec "$USER_NAME" >/dev/null ;;
            VOLUME | EXPOSE | LABEL) echo "   (metadata, nothing to play)" >&2 ;;
            HEALTHCHECK)
                [[ $rest == *CMD\ \[* ]] || die "HEALTHCHECK must use CMD in JSON form here"
                HEALTHCHECK_JSON=${rest#*CMD }
                ;;
            CMD)
                [[ $rest == \[* ]] || die "CMD must be in JSON form here"
                CMD_JSON=$rest
                ;;
            *) die "Dockerfile instruction $keyword is not supported by this rehearsal" ;;
        esac
    done 3< <(instructions)
    [[ -n $CMD_JSON ]] || die "the Dockerfile has no CMD"
}

json_argv() {  # JSON array -> one argument per line (Debian's python3 in the image parses it)
    chroot "$IMAGE" /usr/bin/python3 -c \
        'import json, sys; [print(a) for a in json.loads(sys.argv[1])]' "$1"
}

# --- checks ----------------------------------------------------------------------------------

record() {  # NAME STATUS DETAIL
    RESULTS+=("$(printf '%-4s  %-34s %s' "$2" "$1" "$3")")
    [[ $2 == PASS ]] || FAILED=1
}

check() {  # NAME FUNCTION: run a check, record PASS/FAIL with the first line it printed
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        record "$name" PASS "$(echo "$out" | tail -1)"
    else
        record "$name" FAIL "$(echo "$out" | tail -3 | tr '\n' ' ')"
        echo "$out" | tail -30 >&2
    fi
}

check_user() {
    local uid
    uid=$(in_image id -u)
    [[ $uid == 10001 ]] || { echo "USER $USER_NAME runs as uid $uid, not 10001"; return 1; }
    local owner
    owner=$(stat -c %u "$IMAGE/data")
    [[ $owner == 10001 ]] || { echo "/data owned by uid $owner"; return 1; }
    echo "USER $USER_NAME is uid $uid; /data owned by it"
}

check_import() {  # from /, so the installed package is imported, not /app's copy
    in_image --cd / python -c '
import importlib, sys
# lightgbm loads libgomp (OpenMP), weasyprint loads Pango; the rest is our code and what it pulls.
failed = []
for name in ("lightgbm", "weasyprint", "shap", "mlflow", "mimamori.cli", "service.app"):
    try:
        importlib.import_module(name)
    except Exception as error:
        failed.append(f"{name}: {type(error).__name__}: {error}")
if failed:
    sys.exit("; ".join(failed))
print("imported service.app from", sys.modules["service.app"].__file__)'
}

check_pdf() {  # WeasyPrint + Pango + HarfBuzz subsetting, with the font the reports use
    in_image --cd / python -c '
import logging, re, sys, zlib
from weasyprint import HTML
from weasyprint.text import ffi
from service.reports.fonts import FONT_FAMILY, font_path
problems = []
class Catch(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            problems.append(record.getMessage())
logging.getLogger("weasyprint").addHandler(Catch())
html = (f"<style>@font-face {{ font-family: {FONT_FAMILY}; src: url({font_path().as_uri()}) }}"
        f" p {{ font-family: {FONT_FAMILY} }}</style><p>見守り 子どもデータ連携</p>")
HTML(string=html, base_url=str(font_path().parent)).write_pdf("/tmp/x.pdf")
data = open("/tmp/x.pdf", "rb").read()
texts = [data]
for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S):
    try:
        texts.append(zlib.decompress(stream.rstrip(b"\r\n")))
    except zlib.error:
        pass
if problems:
    sys.exit("WeasyPrint warned: " + "; ".join(problems))
# Optional to WeasyPrint (it falls back to fontTools), but the Dockerfile installs it for this.
if ffi.harfbuzz_subset is None:
    sys.exit("libharfbuzz-subset is not loadable: WeasyPrint subsets fonts with fontTools instead")
if not any(FONT_FAMILY.encode() in t for t in texts):
    sys.exit(f"PDF written ({len(data)} bytes) but {FONT_FAMILY} is not embedded")
print(f"/tmp/x.pdf {len(data)} bytes, {FONT_FAMILY} subset embedded (HarfBuzz), no warnings")'
}

HEALTH_ARGV=()
SERVE_ARGV=()
STARTUP_SECONDS=

prepare_commands() {  # the CMD and HEALTHCHECK of the Dockerfile, moved to 127.0.0.1:$PORT
    local -a cmd
    mapfile -t cmd < <(json_argv "$CMD_JSON")
    local i image_port=
    for i in "${!cmd[@]}"; do
        case ${cmd[i]} in
            --host) cmd[i + 1]=127.0.0.1 ;;
            --port) image_port=${cmd[i + 1]}; cmd[i + 1]=$PORT ;;
        esac
    done
    [[ -n $image_port ]] || die "CMD names no --port"
    SERVE_ARGV=("${cmd[@]}")
    if [[ -n $HEALTHCHECK_JSON ]]; then
        mapfile -t HEALTH_ARGV < <(json_argv "$HEALTHCHECK_JSON")
        local joined=${HEALTH_ARGV[*]}
        [[ $joined == *":$image_port/"* ]] \
            || die "HEALTHCHECK does not call the CMD's port $image_port: $joined"
        for i in "${!HEALTH_ARGV[@]}"; do
            HEALTH_ARGV[i]=${HEALTH_ARGV[i]//:$image_port\//:$PORT/}
        done
    fi
}

healthcheck() {  # the Dockerfile's HEALTHCHECK, with its --timeout=5s
    image_cmd "${HEALTH_ARGV[@]}"
    timeout 5 "${IMG_CMD[@]}" </dev/null
}

SERVER_LOG=
start_server() {  # not in a subshell: it sets SERVER_PID and the environment the checks share
    SERVER_LOG=$WORK/serve.log
    # features/settings.py refuses the development pseudonym key when
    # MIMAMORI_ENVIRONMENT=production, so start it as production with a random key of its own.
    local key
    key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    set_env MIMAMORI_ENVIRONMENT=production
    set_env MIMAMORI_PSEUDONYM_KEY="$key"
    set_env MLFLOW_DISABLE_TELEMETRY=true
    echo "starting: ${SERVE_ARGV[*]} (log $SERVER_LOG)" >&2
    image_cmd "${SERVE_ARGV[@]}"
    "${IMG_CMD[@]}" </dev/null >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    local t0=$SECONDS
    while ((SECONDS - t0 < START_TIMEOUT)); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            tail -30 "$SERVER_LOG" >&2
            START_DETAIL="the server exited; see $SERVER_LOG"
            return 1
        fi
        if healthcheck 2>/dev/null; then
            STARTUP_SECONDS=$((SECONDS - t0))
            START_DETAIL="answers /healthz ${STARTUP_SECONDS} s after start"
            return 0
        fi
        sleep 2
    done
    tail -30 "$SERVER_LOG" >&2
    START_DETAIL="no answer on /healthz within $START_TIMEOUT s; see $SERVER_LOG"
    return 1
}

check_server_user() {
    local uid found
    # the chroot's env execs into python, so the background pid is the server itself
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/$SERVER_PID/status")
    [[ $uid == 10001 ]] || { echo "server runs as uid $uid"; return 1; }
    ls "$IMAGE/data" >/dev/null
    found=$(find "$IMAGE/data" -mindepth 1 -maxdepth 1 -printf '%f(uid %U) ' | head -c 300)
    echo "server pid $SERVER_PID is uid $uid; /data now holds: ${found:-nothing}"
}

check_healthcheck() {
    [[ ${#HEALTH_ARGV[@]} -gt 0 ]] || { echo "the Dockerfile has no HEALTHCHECK"; return 1; }
    local rc=0
    healthcheck || rc=$?
    ((rc == 0)) || { echo "HEALTHCHECK command exited $rc"; return 1; }
    echo "HEALTHCHECK command exited 0 (within its 5 s timeout)"
}

check_readyz() {  # empty /data: no feature store, no champion, so 503 naming each hardship
    local out
    out=$(in_image --cd / python -c "
import json, sys, urllib.error, urllib.request
try:
    response = urllib.request.urlopen('http://127.0.0.1:$PORT/readyz', timeout=10)
    status, body = response.status, response.read()
except urllib.error.HTTPError as error:
    status, body = error.code, error.read()
report = json.loads(body)
print(json.dumps(report, ensure_ascii=False))
models = report.get('models') or {}
reasons = {}
for hardship, model in models.items():
    reasons.setdefault(model.get('reason'), []).append(hardship)
named = '; '.join(f'{\", \".join(hs)}: {reason}' for reason, hs in reasons.items())
if status != 503 or report.get('ready') is not False:
    sys.exit(f'expected 503 not ready, got {status}')
if not report.get('database', {}).get('ready'):
    sys.exit('the database (SQLite in /data) is not ready: ' + str(report.get('database')))
if not models or any(m.get('ready') or not m.get('reason') for m in models.values()):
    sys.exit('503, but the hardships are not each named with a reason')
print(f'503 ready=false, database ready, {len(models)} hardships not ready ({named})')
") || { echo "$out"; return 1; }
    echo "$out" | head -1 >"$WORK/readyz.json"
    echo "$out" | tail -1
}

summary() {
    local total=$((SECONDS - T0))
    printf '\n================ rehearsal summary (%s) ================\n' "$(date -u +%FT%TZ)"
    printf 'Dockerfile     %s\n' "$DOCKERFILE"
    [[ -d $IMAGE ]] && printf 'rootfs         %s (%s)\n' "$(du -sxh "$IMAGE" 2>/dev/null | cut -f1)" "$IMAGE"
    [[ -d $IMAGE$VENV ]] && printf 'venv           %s (%s, stands in for /usr/local)\n' \
        "$(du -sxh "$IMAGE$VENV" | cut -f1)" "$VENV"
    printf 'timings        base %s s, Dockerfile steps %s s, total %s s\n' \
        "${BASE_SECONDS:-?}" "${BUILD_SECONDS:-?}" "$total"
    [[ -n $STARTUP_SECONDS ]] && printf 'startup        %s s to /healthz\n' "$STARTUP_SECONDS"
    [[ -s $WORK/readyz.json ]] && printf '/readyz body   %s\n' "$(cat "$WORK/readyz.json")"
    printf '%s\n' "${RESULTS[@]}"
    if ((FAILED)); then echo "RESULT: FAIL"; else echo "RESULT: PASS"; fi
}

# --- the run ---------------------------------------------------------------------------------

t=$SECONDS
build_base
BASE_SECONDS=$((SECONDS - t))

say "fresh image from the base: $IMAGE"
if [[ -e $IMAGE ]]; then
    nothing_mounted_under "$IMAGE" || die "$IMAGE has mounts inside; unmount them first"
    rm -rf "$IMAGE"
fi
cp -a "$BASE" "$IMAGE"
cp /etc/resolv.conf "$IMAGE/etc/resolv.conf"
mount_into "$IMAGE"
CERT_ENV=$(pip_cert_env "$IMAGE")
read_dockerignore

say "playing $DOCKERFILE"
t=$SECONDS
if play_dockerfile; then
    record "build (every Dockerfile step)" PASS "$(instructions | wc -l) instructions played"
else
    BUILD_SECONDS=$((SECONDS - t))
    record "build (every Dockerfile step)" FAIL "a step failed, see above"
    summary
    exit 1
fi
BUILD_SECONDS=$((SECONDS - t))
# The proxy's CA was for pip during the build only; the checks run without it.
rm -f "$IMAGE/etc/ssl/certs/rehearsal-host-ca.pem"
CERT_ENV=

say "checks as USER $USER_NAME"
rm -f "$WORK/readyz.json"
prepare_commands
check "user 10001, /data owned" check_user
check "import the service (installed copy)" check_import
check "PDF: WeasyPrint + IPAexGothic" check_pdf
START_DETAIL=
if start_server; then
    record "CMD serve answers /healthz" PASS "$START_DETAIL"
    check "server uid, /data written" check_server_user
    check "Dockerfile HEALTHCHECK" check_healthcheck
    check "GET /readyz (no model yet)" check_readyz
else
    record "CMD serve answers /healthz" FAIL "$START_DETAIL"
fi
stop_server
summary
exit "$FAILED"
