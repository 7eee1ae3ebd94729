#!/bin/sh
# Demo rollback: switches `current` back to releases/$FACTORY_VERSION.
set -eu
v="$FACTORY_VERSION"
echo "rollback: $FACTORY_TARGET goes back from ${FACTORY_PREVIOUS_VERSION:-?} to $v"
[ -d "releases/$v" ] || { echo "rollback: releases/$v is gone"; exit 2; }
ln -sfn "releases/$v" current.new
mv -T current.new current
echo "rollback: current -> releases/$v"
exec ./ensure-service.sh
