"""The PDFs, rendered to images and read back: Chinese text present, every page marked with the
ward, the time and page x/y, and no missing glyphs (every character drawn is in an embedded font)."""

from __future__ import annotations

import io
import re
import zlib

import pypdfium2 as pdfium
import pytest
from fontTools.cffLib import CFFFontSet
from fontTools.ttLib import TTFont
from PIL import ImageStat

from hisguard.continuity import actions, render
from hisguard.continuity.paper import FORM_CODES, forms_pdf
from hisguard.continuity.pdf import SubsetFont, label_texts, packet_pdf, view_texts
from hisguard.continuity.present import MARK, present

from .conftest import NOW

RARE = "䶮"  # CJK Extension A: not in WenQuanYi Micro Hei, drawn from the fallback face


def _objects(data: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Every object of a PDF without object streams: its dictionary and its (inflated) stream."""
    found: dict[int, tuple[bytes, bytes | None]] = {}
    for match in re.finditer(rb"\n(\d+) 0 obj\b", data):
        end = data.find(b"endobj", match.end())
        begin = data.find(b"stream", match.end(), end)
        if begin < 0:
            found[int(match.group(1))] = (data[match.end() : end], None)
            continue
        head = data[match.end() : begin]
        body = begin + len(b"stream") + (2 if data[begin + 6 : begin + 8] == b"\r\n" else 1)
        length = int(re.search(rb"/Length (\d+)", head).group(1))
        stream = data[body : body + length]
        if b"/FlateDecode" in head:
            stream = zlib.decompress(stream)
        found[int(match.group(1))] = (head, stream)
    return found


def _ref(head: bytes, key: bytes) -> int | None:
    match = re.search(key + rb"\s*\[?\s*(\d+) 0 R", head)
    return int(match.group(1)) if match else None


def embedded_chars(data: bytes) -> set[str]:
    """Characters the PDF can really draw: for each font, the codes its ToUnicode map names,
    kept only when the code leads to a real glyph (not .notdef, gid/cid 0) of the embedded font
    program (TrueType through CIDToGIDMap, CFF through the CID encoding and its charset)."""
    objects = _objects(data)
    chars: set[str] = set()
    for head, _stream in objects.values():
        if b"/Subtype /Type0" not in head:
            continue
        to_unicode = objects[_ref(head, rb"/ToUnicode")][1] or b""
        code_to_char = {
            int(code, 16): chr(int(uni, 16))
            for code, uni in re.findall(rb"<([0-9A-Fa-f]{4})> <([0-9A-Fa-f]{4,8})>", to_unicode)
        }
        cid_font = objects[_ref(head, rb"/DescendantFonts")][0]
        descriptor = objects[_ref(cid_font, rb"/FontDescriptor")][0]
        if b"/FontFile2" in descriptor:
            program = objects[_ref(descriptor, rb"/FontFile2")][1]
            glyphs = TTFont(io.BytesIO(program))["maxp"].numGlyphs
            gid_map = objects[_ref(cid_font, rb"/CIDToGIDMap")][1]
            for code, char in code_to_char.items():
                gid = int.from_bytes(gid_map[2 * code : 2 * code + 2], "big")
                if 0 < gid < glyphs:
                    chars.add(char)
        else:
            program = objects[_ref(descriptor, rb"/FontFile3")][1]
            cff = CFFFontSet()
            cff.decompile(io.BytesIO(program), None)
            charset = set(cff[cff.fontNames[0]].charset)
            encoding = objects[_ref(head, rb"/Encoding")][1]
            cids = {
                int(code, 16): int(cid) for code, cid in re.findall(rb"<([0-9A-Fa-f]{4})> (\d+)", encoding)
            }
            for code, char in code_to_char.items():
                cid = cids.get(code, 0)
                if cid and f"cid{cid:05d}" in charset:
                    chars.add(char)
    return chars


def pages_text(data: bytes) -> list[str]:
    document = pdfium.PdfDocument(data)
    return [page.get_textpage().get_text_range() for page in document]


@pytest.fixture
def w1_view(h3, file_connector, clock):
    actions.run_snapshot(file_connector)
    packet = actions.latest_packet(h3.wards["W1"])
    data = packet.data()
    data["patients"][0]["name"] = f"李{RARE}"
    return packet, present(data)


def test_packet_pdf_renders_with_chinese_and_every_page_marked(w1_view):
    _packet, view = w1_view
    missing: set[str] = set()
    data = packet_pdf([view], printed_by="nurse1", printed_at=NOW, missing=missing)
    assert missing == set()
    texts = pages_text(data)
    assert len(texts) >= 2
    for number, text in enumerate(texts, start=1):
        assert "停机应急" in text and "READ-ONLY" in text
        assert "心内科病区 (W1)" in text
        assert "2025-03-12 09:30" in text
        assert f"{number}/{len(texts)}" in text
    everything = "".join(texts)
    for patient in view["patients"]:
        assert patient["name"] in everything
        for allergy in patient["allergies"]:
            assert allergy["text"] in everything
    assert RARE in everything
    drawn = {c for c in everything if not c.isspace() and c.isprintable()}
    assert drawn <= embedded_chars(data), f"no glyph for {sorted(drawn - embedded_chars(data))}"

    document = pdfium.PdfDocument(data)
    image = document[0].render(scale=1).to_pil().convert("L")
    width, height = image.size
    band = image.crop((0, 0, width, int(height * 0.04)))
    assert ImageStat.Stat(band).mean[0] < 90  # the dark DOWNTIME band
    body = image.crop((0, int(height * 0.1), width, int(height * 0.9)))
    dark = sum(body.histogram()[:128])
    assert dark > 2000  # text was drawn, not blank boxes only


def test_batch_font_prints_the_same(w1_view):
    _packet, view = w1_view
    with SubsetFont([*view_texts([view]), *label_texts()]) as font:
        missing: set[str] = set()
        data = packet_pdf([view], printed_by="it", printed_at=NOW, fonts=font.specs, missing=missing)
    assert missing == set()
    everything = "".join(pages_text(data))
    assert view["patients"][1]["name"] in everything and RARE in everything
    drawn = {c for c in everything if not c.isspace() and c.isprintable()}
    assert drawn <= embedded_chars(data)


def test_cached_render_is_sealed(h3, file_connector, clock):
    actions.run_snapshot(file_connector)
    packet = actions.latest_packet(h3.wards["W2"])
    first = render.rendered(packet)
    packet.refresh_from_db()
    assert packet.sealed_render
    name = packet.data()["patients"][0]["name"]
    assert name.encode() not in bytes(packet.sealed_render)
    again = render.rendered(packet)
    assert again.pdf == first.pdf and name in again.html and render.BANNER_MARKER in again.html


def test_blank_forms(h3):
    data = forms_pdf(FORM_CODES, department="心内科病区 (W1)", hospital="三病区医院", date=NOW.date())
    texts = pages_text(data)
    assert len(texts) == 7
    assert all("心内科病区 (W1)" in t and "2025-03-12" in t for t in texts)
    everything = "".join(texts)
    drawn = {c for c in everything if not c.isspace() and c.isprintable()}
    assert drawn <= embedded_chars(data)
    undated = "".join(pages_text(forms_pdf(["mar"], department="W1", hospital="H", date=None)))
    assert "2025" not in undated and "20____" in undated
    page = h3.client("nurse1").get(
        f"/downtime/forms/?department={h3.wards['W1'].pk}&date=2025-03-12&kinds=lab&kinds=registration"
    )
    assert page.status_code == 200 and page["Content-Type"] == "application/pdf"
    assert len(pages_text(page.content)) == 3


def test_mark_is_fixed_and_bilingual():
    assert MARK == "停机应急 · 只读 / DOWNTIME · READ-ONLY"
