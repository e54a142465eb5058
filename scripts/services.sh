#!/usr/bin/env bash
# Make sure the backing services the tests use are installed, running and answering:
# MariaDB (127.0.0.1:3306, root without password), Redis (127.0.0.1:6379),
# RabbitMQ (127.0.0.1:5672, guest/guest); and HAProxy installed (tests/e2e_gateway.rs and
# e2e_deploy.rs start their own on free ports). Installs with apt where missing (needs root).
set -euo pipefail

log() { echo "[services] $*" >&2; }

apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "cannot install $* (not root, or no apt-get): install it and run again"
    exit 1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name, seconds, command...
  local name=$1 secs=$2; shift 2
  for _ in $(seq 1 "$secs"); do
    if "$@" >/dev/null 2>&1; then log "$name is up"; return 0; fi
    sleep 1
  done
  log "$name did not come up within ${secs}s"; return 1
}

ensure_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
  wait_for redis 30 redis-cli -h 127.0.0.1 -p 6379 ping
}

ensure_mariadb() {
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server
  if ! mariadb -h 127.0.0.1 -u root -e 'select 1' >/dev/null 2>&1; then
    log "starting mariadb"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  fi
  wait_for mariadb 60 mariadb -h 127.0.0.1 -u root -e 'select 1'
  mariadb -h 127.0.0.1 -u root -e 'create database if not exists test'
}

ensure_rabbitmq() {
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  if ! port_open 5672 || ! rabbitmqctl -q status >/dev/null 2>&1; then
    if ! port_open 5672; then
      log "starting rabbitmq"
      rabbitmq-server -detached || true
    fi
  fi
  wait_for rabbitmq 120 rabbitmqctl -q await_startup
  wait_for "rabbitmq port" 60 port_open 5672
}

# Installed only: the gateway test runs a haproxy process of its own, never the system service.
ensure_haproxy() {
  command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || apt_install haproxy
  log "haproxy is installed"
}

want=${*:-redis mariadb rabbitmq haproxy}
for service in $want; do "ensure_$service"; done
