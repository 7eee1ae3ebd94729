#!/bin/sh
# Starts the demo service unless it already runs. It serves the `current` link, so a
# switch of the link is live at the next request without a restart.
set -eu
if [ -f service.pid ] && kill -0 "$(cat service.pid)" 2>/dev/null; then
  echo "service: running (pid $(cat service.pid)) on http://127.0.0.1:$DEMO_PORT/"
  exit 0
fi
command -v python3 >/dev/null || { echo "service: python3 is needed for the demo service"; exit 3; }
# Its own session, and its output in a file, so it outlives this step and its pipes.
setsid python3 -m http.server "$DEMO_PORT" --bind 127.0.0.1 --directory current \
  >service.log 2>&1 </dev/null &
echo $! > service.pid
i=0
while [ $i -lt 50 ]; do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$DEMO_PORT/version', timeout=1)" 2>/dev/null; then
    echo "service: started (pid $(cat service.pid)) on http://127.0.0.1:$DEMO_PORT/"
    exit 0
  fi
  i=$((i + 1))
  sleep 0.1
done
echo "service: did not answer on port $DEMO_PORT; its log:"
cat service.log
exit 1
