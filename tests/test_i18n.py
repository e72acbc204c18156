"""Translations: every user-facing string has Chinese, the compiled catalogs match the sources,
Chinese is the default and English is one switch away, and no template text escapes gettext.

When a test here fails because of a new or changed string: run `scripts/messages.sh`, translate
what it lists in hisguard/locale/zh_Hans/LC_MESSAGES/django.po, run it again, commit .po and .mo.
"""

from __future__ import annotations

import ast
import gettext
import io
import os
import re
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.management import call_command
from django.template.base import DebugLexer, TokenType
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hisguard"
LOCALE = PACKAGE / "locale"
LANGUAGES = ("zh_Hans", "en")
FIX_HINT = (
    "Run scripts/messages.sh, translate what it lists in hisguard/locale/zh_Hans/LC_MESSAGES/django.po "
    "(terms: DESIGN.md §8), run it again and commit the .po and .mo files."
)

# Latin-script words that stay as they are in Chinese text: product, standard and technical names.
ALLOWED_LATIN = ("HISGuard", "HIS", "GB/T 20986", "GB/T 20988", "QR", "IP", "API", "UPS", "RTO", "RPO")
_ALLOWED_RE = re.compile(
    r"(?<![A-Za-z])(?:" + "|".join(re.escape(w) for w in sorted(ALLOWED_LATIN, key=len, reverse=True)) + r")"
    r"(?![A-Za-z])"
)

# Known violations, reported to their owners; each is (path under hisguard/, text). Remove an
# entry when it is fixed. Do not add new ones: mark the string for translation instead.
KNOWN_UNMARKED_TEMPLATE_TEXT: set[tuple[str, str]] = set()
KNOWN_UNEXTRACTED_ALIASES: set[tuple[str, str]] = set()


# --- a small .po reader (no polib needed) -------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)
    obsolete: bool = False
    lineno: int = 0

    @property
    def is_header(self) -> bool:
        return self.msgid == "" and self.msgctxt is None

    @property
    def is_translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr.values()) and "fuzzy" not in self.flags

    def describe(self) -> str:
        where = " ".join(self.references) or f"line {self.lineno}"
        state = "fuzzy" if "fuzzy" in self.flags else "untranslated"
        return f"  {self.msgid!r} ({state}; {where})"


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\\": "\\", '"': '"'}


def _unquote(text: str) -> str:
    text = text.strip()
    assert text.startswith('"') and text.endswith('"'), text
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def read_po(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    entry = Entry()
    target: tuple[str, int] | None = None
    started = False

    def finish() -> None:
        nonlocal entry, target, started
        if started:
            entries.append(entry)
        entry, target, started = Entry(), None, False

    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            entry.obsolete = True
            line = line[2:].strip()
            if not line or line.startswith("|"):
                continue
        elif line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(",") if flag.strip())
            continue
        elif line.startswith("#:"):
            entry.references.extend(line[2:].split())
            continue
        elif line.startswith("#"):
            continue
        if line.startswith('"'):
            if target is None:
                raise ValueError(f"{path}:{lineno}: continuation without a keyword")
            name, index = target
            if name == "msgstr":
                entry.msgstr[index] += _unquote(line)
            else:
                setattr(entry, name, (getattr(entry, name) or "") + _unquote(line))
            continue
        keyword, _, rest = line.partition(" ")
        if not started:
            entry.lineno = lineno
            started = True
        plural = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
        if plural:
            target = ("msgstr", int(plural.group(1)))
            entry.msgstr[target[1]] = _unquote(rest)
        elif keyword == "msgstr":
            target = ("msgstr", 0)
            entry.msgstr[0] = _unquote(rest)
        elif keyword in ("msgid", "msgctxt", "msgid_plural"):
            target = (keyword, 0)
            setattr(entry, keyword, _unquote(rest))
        else:
            raise ValueError(f"{path}:{lineno}: unexpected {keyword!r}")
    finish()
    return entries


def po_path(locale_dir: Path, language: str) -> Path:
    return locale_dir / language / "LC_MESSAGES" / "django.po"


def live_entries(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if not e.obsolete and not e.is_header]


def placeholders(text: str, flags: set[str]) -> list[str]:
    found = re.findall(r"%\([^)]+\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]|%[sd]", text)
    if "python-brace-format" in flags:
        found += re.findall(r"(?<!\{)\{[^{}]*\}(?!\})", text)
    return sorted(found)


# --- (a) every string in templates and code has a Chinese translation -----------------------


def _require_gettext() -> None:
    missing = [tool for tool in ("xgettext", "msgmerge", "msguniq", "msgattrib") if not shutil.which(tool)]
    if missing:
        pytest.fail(
            f"GNU gettext is needed to extract strings ({', '.join(missing)} missing): apt-get install gettext"
        )


@pytest.fixture(scope="module")
def fresh_zh_catalog(tmp_path_factory) -> list[Entry]:
    """makemessages over a copy of the package, merged into a copy of the committed catalogs:
    exactly what a developer would get, and the committed files are never touched."""
    _require_gettext()
    work = tmp_path_factory.mktemp("i18n") / "hisguard"
    shutil.copytree(PACKAGE, work, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo", "static"))
    cwd = Path.cwd()
    try:
        os.chdir(work)
        with override_settings(LOCALE_PATHS=[str(work / "locale")]):
            call_command(
                "makemessages",
                locale=list(LANGUAGES),
                no_obsolete=True,
                verbosity=0,
                stdout=io.StringIO(),
                stderr=io.StringIO(),
            )
    finally:
        os.chdir(cwd)
    for language in LANGUAGES:
        assert po_path(work / "locale", language).is_file(), f"makemessages made no {language} catalog"
    return read_po(po_path(work / "locale", "zh_Hans"))


def test_every_string_in_templates_and_code_has_a_chinese_translation(fresh_zh_catalog):
    entries = live_entries(fresh_zh_catalog)
    assert len(entries) > 100, "makemessages found almost no strings: is it scanning hisguard/?"
    missing = [e for e in entries if not e.is_translated]
    assert not missing, (
        f"{len(missing)} strings have no Chinese translation:\n"
        + "\n".join(e.describe() for e in missing)
        + f"\n{FIX_HINT}"
    )


def test_committed_catalogs_exist_and_have_no_fuzzy_or_empty_chinese():
    for language in LANGUAGES:
        assert po_path(LOCALE, language).is_file(), f"missing catalog for {language}"
        assert po_path(LOCALE, language).with_suffix(".mo").is_file(), (
            f"missing compiled catalog for {language}"
        )
    entries = read_po(po_path(LOCALE, "zh_Hans"))
    header = next(e for e in entries if e.is_header)
    assert "fuzzy" not in header.flags, "the zh_Hans header is fuzzy: msgfmt would drop it"
    assert "charset=UTF-8" in header.msgstr[0]
    bad = [e for e in live_entries(entries) if not e.is_translated]
    assert not bad, (
        "Untranslated or fuzzy entries:\n" + "\n".join(e.describe() for e in bad) + f"\n{FIX_HINT}"
    )


def test_translations_keep_the_placeholders_of_the_source():
    wrong = []
    for language in LANGUAGES:
        for e in live_entries(read_po(po_path(LOCALE, language))):
            sources = [e.msgid] if e.msgid_plural is None else [e.msgid, e.msgid_plural]
            expected = {tuple(placeholders(s, e.flags)) for s in sources}
            for text in e.msgstr.values():
                if text and tuple(placeholders(text, e.flags)) not in expected:
                    wrong.append(f"  {language}: {e.msgid!r} -> {text!r}")
    assert not wrong, "Translations whose placeholders differ from the source:\n" + "\n".join(wrong)


def test_gettext_is_only_imported_under_names_makemessages_extracts():
    # xgettext's Python keywords plus those Django's makemessages adds.
    extracted = {
        "_",
        "gettext",
        "gettext_lazy",
        "gettext_noop",
        "ngettext",
        "ngettext_lazy",
        "pgettext",
        "pgettext_lazy",
        "npgettext",
        "npgettext_lazy",
    }
    functions = extracted - {"_"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        relative = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == "django.utils.translation":
                for alias in node.names:
                    name = alias.asname or alias.name
                    known = (relative, name) in KNOWN_UNEXTRACTED_ALIASES
                    if alias.name in functions and name not in extracted and not known:
                        found.append(f"  hisguard/{relative}:{node.lineno}: {alias.name} as {name}")
    assert not found, (
        "makemessages does not see strings passed to these names; import gettext as `_` or by its "
        "own name:\n" + "\n".join(found)
    )


# --- (b) the compiled .mo files match the .po files -----------------------------------------


def _expected_catalog(entries: list[Entry]) -> dict:
    """What msgfmt puts in a .mo: translated, non-fuzzy entries (keys as GNUTranslations has them)."""
    catalog: dict = {}
    for e in live_entries(entries):
        if not e.is_translated:
            continue
        key = e.msgid if e.msgctxt is None else f"{e.msgctxt}\x04{e.msgid}"
        if e.msgid_plural is None:
            catalog[key] = e.msgstr[0]
        else:
            for index, text in e.msgstr.items():
                catalog[(key, index)] = text
    return catalog


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalog_is_up_to_date(language):
    po = po_path(LOCALE, language)
    mo = po.with_suffix(".mo")
    assert mo.is_file(), f"{mo.relative_to(ROOT)} is missing. {FIX_HINT}"
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    actual = {key: value for key, value in compiled._catalog.items() if key != ""}
    expected = _expected_catalog(read_po(po))
    stale = sorted(
        (repr(key) for key in expected.keys() ^ actual.keys()),
        key=str,
    ) + sorted(repr(key) for key in expected.keys() & actual.keys() if expected[key] != actual[key])
    assert not stale, (
        f"{mo.relative_to(ROOT)} does not match {po.name} ({len(stale)} differences, e.g. "
        f"{', '.join(stale[:5])}). Run scripts/messages.sh (or compilemessages) and commit the .mo."
    )
    assert compiled.info().get("language", "").lower().replace("-", "_") == language.lower()


# --- (c) Chinese by default, English on request ---------------------------------------------


@pytest.mark.django_db
def test_login_page_is_chinese_by_default():
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert response.headers["Content-Language"] == "zh-hans"
    assert '<html lang="zh-hans">' in html
    assert "登录" in html and "用户名" in html and "密码" in html
    assert "报告故障无需登录" in html
    assert "Log in" not in html and "Username" not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "client_kwargs",
    [{"HTTP_ACCEPT_LANGUAGE": "en"}, {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}, {}],
    ids=["accept-language", "accept-language-region", "cookie"],
)
def test_login_page_is_english_when_asked(client_kwargs, settings):
    client = Client(**client_kwargs)
    if not client_kwargs:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get("/accounts/login/").content.decode()
    assert '<html lang="en">' in html
    assert "Log in" in html and "Username" in html and "Password" in html
    assert "Staff reporting a fault do not need to log in" in html
    assert "登录" not in html


@pytest.mark.django_db
def test_chinese_browser_gets_chinese():
    html = Client(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.8").get("/accounts/login/").content.decode()
    assert '<html lang="zh-hans">' in html and "用户名" in html


# --- (d) no visible template text outside {% translate %} / {% blocktranslate %} ------------

# Attributes a person reads; everything else (class, id, href, name, type, hx-*, …) is code.
VISIBLE_ATTRIBUTES = {"placeholder", "title", "alt", "aria-label", "aria-description", "label"}
BUTTON_INPUT_TYPES = {"submit", "button", "reset"}
MASK = "\u2063"  # stands in for a template tag: no letters, invisible
_DEFAULT_LITERAL = re.compile(r"\|\s*default(?:_if_none)?\s*:\s*(?:\"([^\"]*)\"|'([^']*)')")


def needs_translation(text: str) -> bool:
    return bool(re.search(r"[A-Za-z]", _ALLOWED_RE.sub("", text)))


def mask_template(source: str) -> tuple[str, list[tuple[int, str]]]:
    """The template with every tag, variable and comment replaced by MASK (newlines kept, so
    line numbers hold), text inside {% blocktranslate %} and {% comment %} masked too; and the
    string literals given to |default, which are shown as they are."""
    pieces: list[str] = []
    literals: list[tuple[int, str]] = []
    skip_until: str | None = None
    for token in DebugLexer(source).tokenize():
        start, end = token.position
        raw = source[start:end]
        word = token.contents.split()[0] if token.contents.split() else ""
        if token.token_type == TokenType.BLOCK:
            if skip_until is None and word in ("blocktranslate", "blocktrans"):
                skip_until = "endblocktranslate" if word == "blocktranslate" else "endblocktrans"
            elif skip_until is None and word == "comment":
                skip_until = "endcomment"
            elif word == skip_until:
                skip_until = None
        if token.token_type == TokenType.VAR:
            for match in _DEFAULT_LITERAL.finditer(token.contents):
                literals.append(
                    (token.lineno, match.group(1) if match.group(1) is not None else match.group(2))
                )
        if token.token_type == TokenType.TEXT and skip_until is None:
            pieces.append(raw)
        else:
            pieces.append(MASK + "\n" * raw.count("\n"))
    return "".join(pieces), literals


class VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._raw_text = 0

    def handle_starttag(self, tag, attrs):
        self._check_attributes(tag, attrs)
        if tag in ("script", "style"):
            self._raw_text += 1

    def handle_startendtag(self, tag, attrs):
        self._check_attributes(tag, attrs)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._raw_text:
            self._raw_text -= 1

    def handle_data(self, data):
        if self._raw_text or not needs_translation(data):
            return
        line = self.getpos()[0] + data[: len(data) - len(data.lstrip())].count("\n")
        self.found.append((line, data.strip().replace(MASK, "{…}")))

    def _check_attributes(self, tag, attrs):
        attributes = {name.lower(): value or "" for name, value in attrs}
        visible = {name for name in attributes if name in VISIBLE_ATTRIBUTES}
        if tag == "input" and attributes.get("type", "").lower() in BUTTON_INPUT_TYPES:
            visible.add("value")
        for name in sorted(visible):
            if needs_translation(attributes.get(name, "")):
                value = attributes[name].replace(MASK, "{…}")
                self.found.append((self.getpos()[0], f'{name}="{value}"'))


def untranslated_template_text(path: Path) -> list[tuple[int, str]]:
    masked, literals = mask_template(path.read_text(encoding="utf-8"))
    parser = VisibleText()
    parser.feed(masked)
    parser.close()
    found = parser.found + [
        (line, f'|default:"{text}"') for line, text in literals if needs_translation(text)
    ]
    return sorted(found)


def template_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.html") if "templates" in p.relative_to(PACKAGE).parts)


def test_template_text_is_inside_translate_tags():
    assert template_files(), "no templates found"
    problems = []
    for path in template_files():
        relative = path.relative_to(PACKAGE).as_posix()
        for line, text in untranslated_template_text(path):
            if (relative, text.removeprefix('|default:"').removesuffix('"')) in KNOWN_UNMARKED_TEMPLATE_TEXT:
                continue
            problems.append(f"  hisguard/{relative}:{line}: {text[:80]}")
    assert not problems, (
        "Text shown to people but not inside {% translate %} / {% blocktranslate %} "
        f"(allowed as they are: {', '.join(ALLOWED_LATIN)}):\n" + "\n".join(problems)
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{% load i18n %}<p>{% translate "Hello" %}</p>', []),
        ("<p>\n  Hello world</p>", [(2, "Hello world")]),
        ("<p>HIS · GB/T 20986 · QR</p>", []),
        ("<td>+{{ step.delay }} min</td>", [(1, "+{…} min")]),
        (
            '<input placeholder="Search"><input placeholder="{% translate \'Search\' %}">',
            [(1, 'placeholder="Search"')],
        ),
        ('<a href="/x" class="big link" hx-get="/y" id="a-b">{{ label }}</a>', []),
        (
            '<input type="submit" value="Go"><input type="hidden" name="next" value="next">',
            [(1, 'value="Go"')],
        ),
        ("{% blocktranslate trimmed %}\nHello {{ name }}\n{% endblocktranslate %}", []),
        ("{% comment %}\nnot shown\n{% endcomment %}{# nor this #}", []),
        ("<script>\nvar x = 'code';\n</script><style>p { color: red }</style>", []),
        (
            '<span>{{ who|default:"system" }}</span>{{ x|default:_("system") }}{{ y|default:"—" }}',
            [(1, '|default:"system"')],
        ),
        ('<option value="{{ c }}"{% if c == x %} selected{% endif %}>{{ label }}</option>', []),
    ],
)
def test_template_scanner(tmp_path, template, expected):
    path = tmp_path / "t.html"
    path.write_text(template, encoding="utf-8")
    assert untranslated_template_text(path) == expected
