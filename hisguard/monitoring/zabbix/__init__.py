"""The Zabbix webhook media type HISGuard ships (import hisguard_webhook.yaml into Zabbix)."""

from pathlib import Path

MEDIA_TYPE = Path(__file__).with_name("hisguard_webhook.yaml")
