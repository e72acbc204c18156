"""Settings of the floor: HISGuard's database and server settings, nothing else.

Importing ``hisguard.settings`` reads the same environment (HISGUARD_VAR_DIR, DATABASE_URL,
SECRET_KEY, ALLOWED_HOSTS ...), so the floor writes to the very database HISGuard uses, with
the same SQLite options (WAL, IMMEDIATE transactions, busy timeout) or the same PostgreSQL
connection settings.
"""

from hisguard.settings import (
    ALLOWED_HOSTS,
    DATABASES,
    DEBUG,
    DEFAULT_AUTO_FIELD,
    SECRET_KEY,
    TIME_ZONE,
    USE_TZ,
)

__all__ = ["ALLOWED_HOSTS", "DATABASES", "DEBUG", "DEFAULT_AUTO_FIELD", "SECRET_KEY", "TIME_ZONE", "USE_TZ"]

INSTALLED_APPS = ["bench.floor"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.floor.urls"
WSGI_APPLICATION = "bench.floor.wsgi.application"
USE_I18N = False
