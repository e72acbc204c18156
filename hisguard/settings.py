"""Django settings for HISGuard.

Everything that differs between a laptop, a test run and a hospital's server comes from
environment variables (read by the small helpers below), so one settings module serves all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


VAR_DIR = Path(env_str("HISGUARD_VAR_DIR", str(PROJECT_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # the embedded database and static files live here

DEBUG = env_bool("DEBUG", False)
# The default key is for the embedded single-machine setup only; a deployment sets SECRET_KEY.
SECRET_KEY = env_str("SECRET_KEY", "hisguard-embedded-default-key-change-me-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000")
# Base address printed on report links and QR codes: what a workstation can reach.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "import_export",
    "hisguard.core",
    "hisguard.organisation",
    "hisguard.reporting",
    "hisguard.incidents",
    "hisguard.paging",
    "hisguard.response",
    "hisguard.monitoring",
    "hisguard.continuity",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "hisguard.core.middleware.AuditActorMiddleware",
]

ROOT_URLCONF = "hisguard.urls"
WSGI_APPLICATION = "hisguard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hisguard.core.context_processors.navigation",
            ],
        },
    },
]


# Django's SQLite backend plus a fair queue for the write lock (see its module docstring).
SQLITE_ENGINE = "hisguard.core.db.sqlite3"


def _sqlite_synchronous() -> str:
    value = env_str("HISGUARD_SQLITE_SYNCHRONOUS", "FULL").strip().upper()
    if value not in {"FULL", "NORMAL", "EXTRA"}:
        raise ImproperlyConfigured(
            f"HISGUARD_SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA, not {value!r}"
        )
    return value


def _database_config() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL")
    # Each web thread keeps its connection: a new one costs its setup and the compilation of
    # every statement of the report path again, and a storm after a quiet hour would pay that
    # on every thread at once (the benchmark's first second showed it). SQLite's are kept for
    # good; PostgreSQL's for 10 minutes, checked before reuse so a database restart is survived.
    if url:
        config: dict[str, Any] = dict(
            dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 600), conn_health_checks=True)
        )
    else:
        max_age = os.environ.get("DB_CONN_MAX_AGE")
        config = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "hisguard.sqlite3"),
            "CONN_MAX_AGE": int(max_age) if max_age else None,
        }
    if config["ENGINE"] == "django.db.backends.postgresql" and env_bool("DB_PREPARED_STATEMENTS", True):
        # Parameters bound by the server, and statements run five times prepared: the report
        # path's queries are the same for every report, and planning them again each time
        # cost a third of a report (the workstation lookup joins ten tables). Turn it off
        # behind a transaction-mode connection pooler (pgbouncer), which cannot keep them.
        config.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        if os.environ.get("HISGUARD_SQLITE_GATE", "1") == "1":
            config["ENGINE"] = SQLITE_ENGINE
        # WAL lets pages read while a report is written; IMMEDIATE takes the write lock at
        # BEGIN so two writers queue instead of failing with "database is locked" mid-way.
        # synchronous=FULL syncs the log to disk at every commit, so a report answered 201
        # survives a power cut of the server, not only a crash of HISGuard (NORMAL).
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                f"PRAGMA journal_mode=WAL; PRAGMA synchronous={_sqlite_synchronous()}; "
                "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=20000;"
            ),
        }
    config.setdefault("TEST", {})
    if config["ENGINE"] in ("django.db.backends.sqlite3", SQLITE_ENGINE):
        # A file, not memory, so tests can start real worker processes on the same database.
        config["TEST"].setdefault("NAME", str(VAR_DIR / f"test-hisguard-{os.getpid()}.sqlite3"))
    return config


DATABASES = {"default": _database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "console"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)  # one shift
SESSION_COOKIE_HTTPONLY = True

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env_str("HISGUARD_TIME_ZONE", "Asia/Shanghai")

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]  # the project's own CSS and vendored htmx
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False

NINJA_PAGINATION_PER_PAGE = 100
NINJA_PAGINATION_MAX_LIMIT = 1000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # httpx logs every request at INFO: a broadcast to 2,000 people would flood the log.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

# Defaults of the plan (DESIGN §4). Each hospital's ClassificationPolicy overrides them.
HISGUARD_REPORT_FLOOD_LIMIT = env_int("HISGUARD_REPORT_FLOOD_LIMIT", 5)
HISGUARD_REPORT_FLOOD_WINDOW_SECONDS = env_int("HISGUARD_REPORT_FLOOD_WINDOW_SECONDS", 600)
HISGUARD_REPORT_TEXT_MAX = 2000

HISGUARD_TITLE = _("HISGuard")

# Notifications (paging). Email goes to the hospital's SMTP server when EMAIL_HOST is set;
# otherwise into files under var/mail, so a demo shows every message without a mail server.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "hisguard@localhost")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
HISGUARD_CHANNEL_TIMEOUT_SECONDS = env_int("HISGUARD_CHANNEL_TIMEOUT_SECONDS", 10)
HISGUARD_SMS_GATEWAY_URL = env_str("HISGUARD_SMS_GATEWAY_URL", "")
HISGUARD_GAMMU_CONFIG = env_str("HISGUARD_GAMMU_CONFIG", "")
HISGUARD_ACK_LINK_HOURS = env_int("HISGUARD_ACK_LINK_HOURS", 24)
# Storm control: past this many messages to one person within the window, bundle the rest.
HISGUARD_STORM_LIMIT = env_int("HISGUARD_STORM_LIMIT", 3)
HISGUARD_STORM_WINDOW_SECONDS = env_int("HISGUARD_STORM_WINDOW_SECONDS", 300)
HISGUARD_DIGEST_HOLD_SECONDS = env_int("HISGUARD_DIGEST_HOLD_SECONDS", 60)
HISGUARD_DELIVERY_MAX_ATTEMPTS = env_int("HISGUARD_DELIVERY_MAX_ATTEMPTS", 4)
HISGUARD_DELIVERY_BACKOFF_SECONDS = env_int("HISGUARD_DELIVERY_BACKOFF_SECONDS", 5)
HISGUARD_DELIVERY_BACKOFF_CAP_SECONDS = env_int("HISGUARD_DELIVERY_BACKOFF_CAP_SECONDS", 300)
HISGUARD_WORKER_POLL_SECONDS = float(env_str("HISGUARD_WORKER_POLL_SECONDS", "0.25"))
HISGUARD_WORKER_LEASE_SECONDS = env_int("HISGUARD_WORKER_LEASE_SECONDS", 120)

# Monitoring (issue #4). The checker contacts only loopback plus the networks an administrator
# adds (monitoring.AllowedNetwork); these are always allowed on top of those.
HISGUARD_MONITORING_ALWAYS_ALLOWED = env_list("HISGUARD_MONITORING_ALWAYS_ALLOWED", "127.0.0.0/8,::1/128")
# SQLite database checks may only open files under these directories (read-only).
HISGUARD_MONITORING_SQLITE_DIRS = env_list("HISGUARD_MONITORING_SQLITE_DIRS", str(VAR_DIR))
HISGUARD_MONITORING_CA_FILE = env_str(
    "HISGUARD_MONITORING_CA_FILE", ""
)  # the hospital's own CA for HTTPS/TLS checks
HISGUARD_MONITORING_RAW_DAYS = env_int("HISGUARD_MONITORING_RAW_DAYS", 7)  # raw samples, then hourly rollups
HISGUARD_MONITORING_ROLLUP_DAYS = env_int("HISGUARD_MONITORING_ROLLUP_DAYS", 90)
HISGUARD_CHECKER_CONCURRENCY = env_int("HISGUARD_CHECKER_CONCURRENCY", 500)
HISGUARD_CHECKER_FLUSH_SECONDS = float(env_str("HISGUARD_CHECKER_FLUSH_SECONDS", "1.0"))
HISGUARD_CHECKER_NODE_TIMEOUT_SECONDS = env_int("HISGUARD_CHECKER_NODE_TIMEOUT_SECONDS", 30)
# Intake: concurrent batches per web process before new (firing-only) batches get 429.
HISGUARD_INTAKE_MAX_INFLIGHT = env_int("HISGUARD_INTAKE_MAX_INFLIGHT", 4)
HISGUARD_INTAKE_SLOT_WAIT_SECONDS = float(env_str("HISGUARD_INTAKE_SLOT_WAIT_SECONDS", "2"))
HISGUARD_INTAKE_MAX_BATCH = env_int("HISGUARD_INTAKE_MAX_BATCH", 1000)
HISGUARD_INTAKE_MAX_BYTES = env_int("HISGUARD_INTAKE_MAX_BYTES", 5 * 1024 * 1024)

# Incident command (issue #5). Targets for the post-incident review, in minutes, by class;
# time to recover is measured against the shortest RTO of the systems affected.
HISGUARD_RESPONSE_TARGETS = {
    "detect": env_int("HISGUARD_TARGET_DETECT_MINUTES", 10),
    "acknowledge": {1: 5, 2: 15, 3: 30},
    "classify": {1: 15, 2: 30, 3: 60},
    "recover": {1: 240, 2: 480, 3: 1440},  # when no system with an RTO is affected
}
# Default playbooks and procedures (YAML); empty = the ones shipped in hisguard/response/data.
HISGUARD_RESPONSE_DATA_DIR = env_str("HISGUARD_RESPONSE_DATA_DIR", "")
# The PDF font (Debian: fonts-noto-cjk) and the face in the collection (2 = Simplified Chinese).
_NOTO = "/usr/share/fonts/opentype/noto"
HISGUARD_PDF_FONT = env_str("HISGUARD_PDF_FONT", f"{_NOTO}/NotoSansCJK-Regular.ttc")
HISGUARD_PDF_FONT_BOLD = env_str("HISGUARD_PDF_FONT_BOLD", f"{_NOTO}/NotoSansCJK-Bold.ttc")
HISGUARD_PDF_FONT_INDEX = env_int("HISGUARD_PDF_FONT_INDEX", 2)

# Downtime data continuity (issue #6). Patient data at rest is sealed with AES-256-GCM under
# HISGUARD_DATA_KEY (base64 of 32 random bytes); when it is empty, a key is generated on first
# use into var/continuity-data.key (embedded setup). Retired keys stay readable from
# HISGUARD_DATA_KEYS_OLD (comma-separated) while the snapshots sealed with them age out.
HISGUARD_DATA_KEY = env_str("HISGUARD_DATA_KEY", "")
HISGUARD_DATA_KEYS_OLD = env_list("HISGUARD_DATA_KEYS_OLD", "")
# Ward times per frequency code for the 24-hour administration schedule, e.g. {"tid": ["08:00", "14:00", "20:00"]}.
HISGUARD_CONTINUITY_ADMIN_TIMES: dict[str, list[str]] = {}
# A run that has not finished after this long is taken as dead (its worker stopped).
HISGUARD_CONTINUITY_RUN_TIMEOUT_MINUTES = env_int("HISGUARD_CONTINUITY_RUN_TIMEOUT_MINUTES", 30)
HISGUARD_BREAK_GLASS_HOURS = env_int("HISGUARD_BREAK_GLASS_HOURS", 8)
# Packet PDFs: a CJK TrueType font ("path" or "path#face"); empty = the first found of
# WenQuanYi Micro Hei (Debian fonts-wqy-microhei), Droid Sans Fallback, Noto Sans CJK SC.
HISGUARD_CONTINUITY_PDF_FONT = env_str("HISGUARD_CONTINUITY_PDF_FONT", "")
HISGUARD_CONTINUITY_DEMO_DIR = Path(env_str("HISGUARD_CONTINUITY_DEMO_DIR", str(VAR_DIR / "continuity-demo")))
