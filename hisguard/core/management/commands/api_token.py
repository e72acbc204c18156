"""`hisguard api_token create NAME --user U`: issue a token for a machine (shown once)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from hisguard.core.audit import acting_as, record
from hisguard.core.models import ApiToken


class Command(BaseCommand):
    help = "Create, list or revoke API tokens."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        create = sub.add_parser("create")
        create.add_argument("name")
        create.add_argument("--user", required=True, help="the user whose permissions the token carries")
        sub.add_parser("list")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("prefix")

    def handle(self, *args, verb: str, **options) -> None:
        with acting_as(None, label="cli"):
            if verb == "create":
                user = get_user_model().objects.filter(username=options["user"]).first()
                if user is None:
                    raise CommandError(f"no such user: {options['user']} / 用户不存在")
                token, raw = ApiToken.issue(options["name"], user)
                record("api_token.issue", token, user=user.get_username())
                self.stdout.write(raw)
            elif verb == "list":
                for token in ApiToken.objects.select_related("user").order_by("created_at"):
                    state = "revoked" if token.revoked else "active"
                    self.stdout.write(f"{token.prefix}…  {token.name}  {token.user}  {state}")
            else:
                updated = ApiToken.objects.filter(prefix=options["prefix"], revoked=False)
                if not updated.exists():
                    raise CommandError("no active token with that prefix / 没有该前缀的有效令牌")
                for token in updated:
                    token.revoked = True
                    token.save(update_fields=["revoked"])
                self.stdout.write("revoked")
