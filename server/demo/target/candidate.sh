#!/bin/sh
# Prints the version to deploy next: the first release newer than the live one that was
# not rolled back (rollback.sh marks it), or the newest. A real factory would ask its
# build system.
set -eu
live=""
[ -L current ] && live="$(basename "$(readlink current)")"
next=""
for v in $(ls releases | sort -V); do
  [ -e "releases/$v/rolled-back" ] && continue
  if [ -z "$live" ]; then next="$v"; break; fi
  # The first version that sorts after the live one.
  if [ "$v" != "$live" ] && [ "$(printf '%s\n%s\n' "$live" "$v" | sort -V | head -n 1)" = "$live" ]; then
    next="$v"; break
  fi
done
[ -n "$next" ] || next="$(ls releases | sort -V | tail -n 1)"
echo "$next $(cat "releases/$next/commit")"
