#!/bin/sh
# Demo status: prints the version the demo service serves now. After an interrupted
# release the dashboard runs it (with the post-deploy smoke checks) and trusts the
# recorded live version again only when the two agree.
set -eu
python3 -c "import sys, urllib.request; print(urllib.request.urlopen('http://127.0.0.1:' + sys.argv[1] + '/version', timeout=3).read().decode().strip())" "$DEMO_PORT"
