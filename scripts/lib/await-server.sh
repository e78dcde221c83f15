# Sourced by the scripts that start a server and then use it (run-dev, smoke-test, bench, bench-ab).
#
# await_server NAME PID SECONDS COMMAND...: runs COMMAND (output discarded) every 0.2 s until it
# succeeds. Returns 1, with the reason on stderr after "NAME: ", once the process PID has exited
# or SECONDS have passed: a first `tallyd dev` makes its cluster and runs every migration, a
# minute or more on a busy machine, so callers give it minutes, not a guess of a few seconds.
await_server() {
  local name=$1 pid=$2 seconds=$3
  local deadline=$((SECONDS + seconds))
  shift 3
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "$name: the server exited before it answered: $*" >&2; return 1; }
    ((SECONDS < deadline)) || { echo "$name: the server did not answer within $seconds s: $*" >&2; return 1; }
    sleep 0.2
  done
}
