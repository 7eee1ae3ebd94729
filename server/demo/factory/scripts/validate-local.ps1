#!/bin/sh
# Demo stand-in for the factory's validate-local.ps1: a POSIX shell script under the
# same name, so the demo items' validation command runs as written. It checks the work
# item's files in this demo repository for real; a check that fails fails the run.
set -u
item="${FACTORY_WORK_ITEM_ID:?FACTORY_WORK_ITEM_ID is not set}"
file="work-items/$item.md"
failures=0

check() {
  if "$@" >/dev/null 2>&1; then
    echo "ok    $description"
  else
    echo "FAIL  $description"
    failures=$((failures + 1))
  fi
}

echo "validate-local: $item on branch ${FACTORY_BRANCH:-(none)} in $(pwd)"
description="work-item file $file exists"; check test -f "$file"
description="work-item file has front matter"; check grep -q '^+++$' "$file"
description="work-item file lists done criteria"; check grep -q '^done_criteria' "$file"
description="prompt file work-items/prompts/$item.prompt.md exists"
check test -s "work-items/prompts/$item.prompt.md"

if [ "$failures" -gt 0 ]; then
  echo "validate-local: $failures check(s) failed"
  exit 1
fi
echo "validate-local: all checks passed"
