"""FHIR R4 REST: search the HIS's FHIR server, following Bundle.link "next" pages.

1. ``Encounter?status=in-progress&_include=Encounter:patient&_include=Encounter:location
   &_include:iterate=Location:partof`` — the census with its patients, beds and wards;
2. for each chunk of patients (``patient=Patient/a,Patient/b,…``): AllergyIntolerance,
   MedicationRequest (active, on-hold, draft), MedicationAdministration (last 24 h),
   Observation (category laboratory, last 72 h) and ServiceRequest (active).

A page that fails (timeout, 5xx, a truncated body) is retried; when retries run out the whole
pull fails with a `PullError` and the last good snapshot stays. Next links must stay on the
configured server.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from hisguard.continuity.connectors.base import COMMON_DEFAULTS, ConfigError, Connector, PullContext, trim
from hisguard.continuity.connectors.fhir import Index, map_index
from hisguard.continuity.shape import Extract, PullError

USER_AGENT = "HISGuard-continuity/1"


class FhirRestConnector(Connector):
    kind = "fhir_rest"
    defaults = {
        "base_url": "",
        "auth": "none",  # none, bearer (secret = token), basic (username + secret = password)
        "username": "",
        "timeout": 30,
        "page_size": 200,
        "chunk": 50,
        "retries": 2,
        "retry_backoff": 2.0,
        "max_pages": 5000,
        "verify_tls": True,
        "ca_file": "",
        "encounter_params": {},
        "service_requests": True,
        "mrn_system": "",
        "ward_system": "",
        **COMMON_DEFAULTS,
    }

    def __init__(
        self,
        config: dict[str, Any],
        secret: str = "",
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(config, secret)
        self.transport = transport
        self.sleep = sleep

    def check(self) -> None:
        base = str(self.config.get("base_url") or "")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("base_url", "must be an http(s) address such as https://his.example/fhir")
        if self.config.get("auth") not in ("none", "bearer", "basic"):
            raise ConfigError("auth", "must be none, bearer or basic")
        if self.config["auth"] == "basic" and not self.config.get("username"):
            raise ConfigError("username", "is needed for basic authentication")
        for name in ("page_size", "chunk", "max_pages"):
            self.number(name, minimum=1)
        self.number("timeout", minimum=0.1, integer=False)
        self.number("retries", minimum=0)
        self.number("retry_backoff", minimum=0, integer=False)
        if not isinstance(self.config.get("encounter_params"), dict):
            raise ConfigError("encounter_params", "must be an object of search parameters")

    # --- HTTP ---

    def client(self) -> httpx.Client:
        headers = {"Accept": "application/fhir+json", "User-Agent": USER_AGENT}
        auth: httpx.Auth | None = None
        if self.config["auth"] == "bearer" and self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        elif self.config["auth"] == "basic":
            auth = httpx.BasicAuth(self.config["username"], self.secret)
        verify: Any = self.config.get("ca_file") or bool(self.config.get("verify_tls", True))
        if isinstance(verify, str):
            import ssl

            verify = ssl.create_default_context(cafile=verify)
        return httpx.Client(
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(
                float(self.config["timeout"]), connect=min(10.0, float(self.config["timeout"]))
            ),
            verify=verify,
            transport=self.transport,
            follow_redirects=False,
        )

    def _same_server(self, url: str) -> bool:
        base, other = urlsplit(self.config["base_url"]), urlsplit(url)
        return (base.scheme, base.netloc) == (other.scheme, other.netloc)

    def get_bundle(
        self, client: httpx.Client, url: str, params: dict[str, Any] | None, what: str
    ) -> dict[str, Any]:
        attempts = int(self.config["retries"]) + 1
        problem = ""
        for attempt in range(attempts):
            if attempt:
                self.sleep(float(self.config["retry_backoff"]) * attempt)
            try:
                response = client.get(url, params=params)
            except httpx.TimeoutException:
                problem = f"{what}: the server did not answer within {self.config['timeout']} s"
                continue
            except httpx.HTTPError as exc:
                problem = f"{what}: {type(exc).__name__}: {exc}"
                continue
            if response.status_code >= 500 or response.status_code == 429:
                problem = f"{what}: HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise PullError(f"{what}: HTTP {response.status_code} {_outcome(response)}".strip())
            try:
                body = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                problem = f"{what}: the page is not valid JSON (truncated?)"
                continue
            if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
                kind = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
                raise PullError(f"{what}: expected a Bundle, got {kind}")
            if not isinstance(body.get("entry", []), list):
                problem = f"{what}: Bundle.entry is not a list"
                continue
            return body
        raise PullError(problem or f"{what}: failed")

    def search(
        self,
        client: httpx.Client,
        resource: str,
        params: dict[str, Any],
        ctx: PullContext,
        first_page_only: bool,
    ) -> Iterator[tuple[dict[str, Any], str]]:
        url: str | None = urljoin(self.config["base_url"].rstrip("/") + "/", resource)
        query: dict[str, Any] | None = {**params, "_count": int(self.config["page_size"])}
        seen: set[str] = set()
        page = 0
        while url:
            page += 1
            if page > int(self.config["max_pages"]):
                raise PullError(f"{resource} search: more than {self.config['max_pages']} pages")
            what = f"{resource} search page {page}"
            ctx.log.append(f"GET {url}" + (f" {query}" if query else ""))
            bundle = self.get_bundle(client, url, query, what)
            yield bundle, what
            if first_page_only:
                return
            url, query = None, None
            for link in bundle.get("link") or []:
                if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
                    url = urljoin(self.config["base_url"], str(link["url"]))
            if url is not None:
                if not self._same_server(url):
                    raise PullError(
                        f"{what}: the next page points to another server ({urlsplit(url).netloc})"
                    )
                if url in seen:
                    raise PullError(f"{what}: the next page repeats an earlier one")
                seen.add(url)

    def pull(self, ctx: PullContext) -> Extract:
        self.check()
        index = Index()
        as_of = ctx.now
        sample = ctx.limit is not None
        with self.client() as client:
            params = {
                "status": "in-progress",
                "_include": ["Encounter:patient", "Encounter:location"],
                "_include:iterate": "Location:partof",
                **self.config["encounter_params"],
            }
            for bundle, what in self.search(client, "Encounter", params, ctx, sample):
                index.add_bundle(bundle, what)
            patients = [
                pid
                for pid in {
                    (enc.get("subject") or {}).get("reference", "").rsplit("/", 1)[-1]
                    for enc in index.of("Encounter").values()
                }
                if pid
            ]
            patients.sort()
            if ctx.limit is not None:
                patients = patients[: ctx.limit]
            chunk = int(self.config["chunk"])
            since_results = (as_of - datetime.timedelta(hours=int(self.config["results_hours"]))).isoformat(
                timespec="seconds"
            )
            since_admin = (as_of - datetime.timedelta(hours=int(self.config["admin_hours"]))).isoformat(
                timespec="seconds"
            )
            searches: list[tuple[str, dict[str, Any]]] = [
                ("AllergyIntolerance", {}),
                ("MedicationRequest", {"status": "active,on-hold,draft"}),
                ("MedicationAdministration", {"effective-time": f"ge{since_admin}"}),
                ("Observation", {"category": "laboratory", "date": f"ge{since_results}"}),
            ]
            if self.config.get("service_requests", True):
                searches.append(("ServiceRequest", {"status": "active,on-hold,draft"}))
            for start in range(0, len(patients), chunk):
                ids = ",".join(f"Patient/{pid}" for pid in patients[start : start + chunk])
                for resource, extra in searches:
                    for bundle, what in self.search(client, resource, {"patient": ids, **extra}, ctx, sample):
                        index.add_bundle(bundle, what)
                if sample:
                    break
        extract = map_index(index, ctx.tz, self.config)
        extract.as_of = as_of
        return trim(extract, as_of, self.config)


def _outcome(response: httpx.Response) -> str:
    """The diagnostics of an OperationOutcome error body, if it is one."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return "; ".join(
            str(i.get("diagnostics") or i.get("code") or "")
            for i in body.get("issue") or []
            if isinstance(i, dict)
        )[:300]
    return ""
