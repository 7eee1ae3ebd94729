#!/bin/sh
# Demo rollback: switches `current` back to releases/$FACTORY_VERSION.
set -eu
v="$FACTORY_VERSION"
echo "rollback: $FACTORY_TARGET goes back from ${FACTORY_PREVIOUS_VERSION:-?} to $v"
[ -d "releases/$v" ] || { echo "rollback: releases/$v is gone"; exit 2; }
ln -sfn "releases/$v" current.new
mv -T current.new current
echo "rollback: current -> releases/$v"
# The version rolled back from is not proposed again by candidate.sh.
if [ -n "${FACTORY_PREVIOUS_VERSION:-}" ] && [ -d "releases/$FACTORY_PREVIOUS_VERSION" ]; then
  touch "releases/$FACTORY_PREVIOUS_VERSION/rolled-back"
fi
exec ./ensure-service.sh
