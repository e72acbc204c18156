#!/usr/bin/env bash
# Update and compile HISGuard's message catalogs (hisguard/locale/{zh_Hans,en}).
#
#   scripts/messages.sh          extract strings, merge them into the .po files, compile the
#                                .mo files, then list what still needs a Chinese translation
#   scripts/messages.sh todo     only list what needs a Chinese translation (changes nothing)
#
# The loop when strings were added or changed:
#   1. scripts/messages.sh                      (or `make messages`)
#   2. translate every entry it lists in hisguard/locale/zh_Hans/LC_MESSAGES/django.po:
#      fill the empty msgstr "", and for an entry marked "#, fuzzy" check the guessed
#      msgstr, then delete the "fuzzy" flag and the "#| msgid" line above it.
#      Keep %(name)s and {name} placeholders exactly; terms: DESIGN.md §8.
#   3. scripts/messages.sh  again: it compiles the .mo files and must print "nothing to translate".
#   4. commit the .po and .mo files (the .mo files are committed so a machine without
#      gettext still shows Chinese). tests/test_i18n.py fails while any string is left.
# English is the source language: the en catalog exists with empty msgstr on purpose.
#
# Needs GNU gettext (Debian: apt-get install gettext) for xgettext, msgmerge and msgfmt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PO="$ROOT/hisguard/locale/zh_Hans/LC_MESSAGES/django.po"

if [[ -n "${PYTHON:-}" ]]; then
  :
elif [[ -x "$ROOT/.venv/bin/python" ]]; then
  PYTHON="$ROOT/.venv/bin/python"
else
  PYTHON=python3
fi

for tool in xgettext msgmerge msgfmt msgattrib; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "messages: $tool is missing; install GNU gettext (apt-get install gettext)" >&2
    exit 2
  fi
done

todo() {
  # Untranslated or fuzzy entries of the Chinese catalog, with where they come from.
  local pending
  # Two passes of msgattrib, each without its header entry (the first paragraph).
  pending=$( { msgattrib --untranslated --no-obsolete --no-wrap "$PO"; msgattrib --only-fuzzy --no-obsolete --no-wrap "$PO"; } \
    | awk 'BEGIN { RS = ""; ORS = "\n\n" } !/(^|\n)msgid ""\nmsgstr ""\n/' )
  if [[ -z "$pending" ]]; then
    echo "messages: nothing to translate; zh_Hans is complete."
    return 0
  fi
  local count
  count=$(grep -c '^msgid ' <<<"$pending" || true)
  echo "messages: $count entries in ${PO#"$ROOT"/} need a Chinese translation:"
  echo
  echo "$pending"
  return 1
}

if [[ "${1:-}" == "todo" ]]; then
  todo
  exit $?
fi

# Run from hisguard/ so that only HISGuard's own sources are scanned (never .venv).
# --add-location=file keeps file names but not line numbers: fewer conflicts between
# people who edit the code at the same time.
(
  cd hisguard
  "$PYTHON" ../manage.py makemessages -l zh_Hans -l en --no-obsolete --add-location=file
  "$PYTHON" ../manage.py compilemessages -l zh_Hans -l en
)
todo
