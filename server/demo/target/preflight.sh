#!/bin/sh
# Pre-deploy check: the tools the demo service needs are here.
command -v python3 >/dev/null || { echo "preflight: python3 is missing"; exit 1; }
[ -d releases ] || { echo "preflight: no releases directory"; exit 1; }
echo "preflight: python3 and $(ls releases | wc -l) releases present"
