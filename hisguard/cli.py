"""The `hisguard` command: Django's management commands under the product's name."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hisguard.settings")
    from django.core.management import execute_from_command_line

    argv = sys.argv[1:]
    if argv and argv[0] == "downtime-node":  # Django command names cannot contain "-"
        argv[0] = "downtime_node"
    execute_from_command_line(["hisguard", *argv])


if __name__ == "__main__":
    main()
