#!/bin/sh
# Entrypoint of the RadLite image: `docker run IMAGE ROLE [ARGS...]`.
#
#   web          gunicorn with deploy/gunicorn.conf.py (integration.wsgi:app) on $RADLITE_BIND
#   worker       radlite worker   (metrics on $RADLITE_METRICS_PORT when set)
#   scheduler    radlite scheduler (run exactly one; the store lock makes extra ones idle)
#   migrate      radlite db upgrade, and the model bundle; then exit (compose runs it first)
#   doctor       radlite doctor
#   anything else is run as given (e.g. `radlite jobs retry`, `sh`).
#
# web, worker and migrate first make sure /models/radlite-mini exists (see ensure_model).
set -eu

MODELS="${RADLITE_MODELS:-/models}"
BUNDLE="$MODELS/radlite-mini"
BAKED="/app/models/baked/radlite-mini"

ensure_model() {
    [ "${RADLITE_BUILD_MODEL_ON_START:-1}" = "1" ] || return 0
    [ -f "$BUNDLE/radlite.json" ] && return 0
    mkdir -p "$MODELS"
    # One container builds; the others wait on the lock, then find the bundle there.
    exec 9>"$MODELS/.radlite-mini.lock"
    flock 9
    if [ ! -f "$BUNDLE/radlite.json" ]; then
        rm -rf "$BUNDLE.partial"
        if [ -f "$BAKED/radlite.json" ]; then
            echo "radlite: copying the baked radlite-mini bundle to $BUNDLE" >&2
            cp -a "$BAKED" "$BUNDLE.partial"
        else
            echo "radlite: building radlite-mini into $BUNDLE (first start; about a minute)" >&2
            radlite model build --out "$BUNDLE.partial"
            rm -rf /app/models/base
        fi
        rm -rf "$BUNDLE"  # a half-made bundle from an interrupted start
        mv "$BUNDLE.partial" "$BUNDLE"
    fi
    flock -u 9
    exec 9>&-
}

role="${1:-web}"
case "$role" in
    web)
        shift || true
        ensure_model
        exec gunicorn -c /app/deploy/gunicorn.conf.py "$@" integration.wsgi:app
        ;;
    worker)
        shift
        ensure_model
        exec radlite worker "$@"
        ;;
    scheduler)
        shift
        exec radlite scheduler "$@"
        ;;
    migrate)
        shift
        ensure_model
        exec radlite db upgrade "$@"
        ;;
    doctor)
        shift
        exec radlite doctor "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
