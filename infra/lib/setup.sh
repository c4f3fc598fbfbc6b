# Shared set-up for infra/demo and infra/test (sourced, not run).
# Installs what is missing and starts what is stopped; does nothing twice.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3.11}"  # PYTHON=python3.12 infra/test to choose another
command -v "$PYTHON_BIN" >/dev/null 2>&1 || PYTHON_BIN=python3

# Debian packages: Pango for WeasyPrint, HarfBuzz's subsetter (fast font subsetting),
# Noto CJK (Chinese documents), the PostgreSQL client tools, poppler (pdfsig, pdffonts and
# pdftotext check the signed documents independently).
DEBIAN_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk postgresql-client poppler-utils)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; return 1; fi
}

ensure_debian_packages() {
  local missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# ensure_venv [dev]: the package (and, with "dev", the test and lint tools) in .venv.
ensure_venv() {
  local extra="${1:-}" target="$ROOT"
  [ -n "$extra" ] && target="$ROOT[$extra]"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtualenv in .venv ($("$PYTHON_BIN" --version))"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  local stamp="$VENV/.arbitral-install${extra:+-$extra}"
  local want
  want="$(cat "$ROOT/pyproject.toml" "$ROOT/infra/constraints.txt" | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing Python packages${extra:+ with the $extra tools} (pinned by infra/constraints.txt)"
    # (This machine's pip configuration names local indexes that may not exist: hush that.)
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
      -c "$ROOT/infra/constraints.txt" -e "$target" 2> >(grep -v "^WARNING: Location 'file:" >&2)
    echo "$want" > "$stamp"
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
  local port=$1 name=$2 tries=${3:-60}
  for _ in $(seq "$tries"); do port_open "$port" && return 0; sleep 1; done
  echo "$name did not start listening on 127.0.0.1:$port" >&2; return 1
}

ensure_postgres() {
  if ! port_open 5432; then
    say "starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
    wait_for_port 5432 PostgreSQL
  fi
}

ensure_redis() {
  if ! port_open 6379; then
    say "starting Redis"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for_port 6379 Redis
  fi
}

ensure_rabbitmq() {
  if ! port_open 5672; then
    say "starting RabbitMQ"
    as_root rabbitmq-server -detached
    wait_for_port 5672 RabbitMQ 120
  fi
}

# ensure_node_packages DIR: npm ci from DIR's lock file, once per lock file.
ensure_node_packages() {
  local dir="$ROOT/$1" stamp want
  stamp="$dir/node_modules/.arbitral-lock"
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    npm ci --prefix "$dir" --no-audit --no-fund --silent
    echo "$want" > "$stamp"
  fi
}
