#!/bin/sh
# Demo deploy: switches `current` to releases/$FACTORY_VERSION and makes sure the demo
# service (python3's http.server on 127.0.0.1:$DEMO_PORT, serving `current`) runs.
set -eu
v="$FACTORY_VERSION"
echo "deploy: release $FACTORY_RELEASE_ID puts $v on $FACTORY_TARGET (was ${FACTORY_PREVIOUS_VERSION:-nothing})"
if [ ! -d "releases/$v" ]; then
  echo "deploy: there is no releases/$v; the versions are: $(ls releases | tr '\n' ' ')"
  exit 2
fi
if [ -f "releases/$v/migrate-seconds" ]; then
  # A version with a migration: the rollout takes its time on each host.
  echo "deploy: migrating for $(cat "releases/$v/migrate-seconds") s"
  sleep "$(cat "releases/$v/migrate-seconds")"
fi
ln -sfn "releases/$v" current.new
mv -T current.new current
echo "deploy: current -> releases/$v"
# Deployed on purpose again: it may be proposed again.
rm -f "releases/$v/rolled-back"
exec ./ensure-service.sh
