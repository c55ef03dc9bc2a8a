"""Text per page of the PDFs the bench writes, for the tests.

Uses poppler's `pdftotext` when it is installed; otherwise a small reader of what
reportlab writes (objects, /Pages /Kids order, ASCII85 + Flate page streams, text
shown with Tj/TJ in the standard WinAnsi fonts). The fallback is not a general PDF
parser: it only needs to read our own reports on machines without poppler (CI).
"""
from __future__ import annotations

import base64
import re
import shutil
import subprocess
import zlib
from pathlib import Path

_OBJ = re.compile(rb"(\d+) 0 obj\s*(.*?)endobj", re.S)
_REF = rb"(\d+) 0 R"


def pages_text(path: Path, prefer_poppler: bool = True) -> list[str]:
    """One string per page."""
    if prefer_poppler and shutil.which("pdftotext"):
        out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                             check=True, timeout=60).stdout
        pages = out.split("\f")
        return pages[:-1] if pages and not pages[-1].strip() else pages
    return _fallback_pages(Path(path).read_bytes())


def _fallback_pages(pdf: bytes) -> list[str]:
    objects = {int(m.group(1)): m.group(2) for m in _OBJ.finditer(pdf)}
    root_pages = next(body for body in objects.values() if re.search(rb"/Type\s*/Pages\b", body)
                      and b"/Parent" not in body)
    return [_page_text(objects, objects[n]) for n in _kids(objects, root_pages)]


def _kids(objects: dict[int, bytes], pages: bytes) -> list[int]:
    kids = re.search(rb"/Kids\s*\[(.*?)\]", pages, re.S).group(1)
    out = []
    for ref in re.findall(_REF, kids):
        body = objects[int(ref)]
        out += _kids(objects, body) if re.search(rb"/Type\s*/Pages\b", body) else [int(ref)]
    return out


def _page_text(objects: dict[int, bytes], page: bytes) -> str:
    m = re.search(rb"/Contents\s*(?:\[(.*?)\]|" + _REF + rb")", page, re.S)
    refs = re.findall(_REF, m.group(1)) if m.group(1) else [m.group(2)]
    return "\n".join(_show_text(_stream(objects[int(r)])) for r in refs)


def _stream(obj: bytes) -> bytes:
    head, _, rest = obj.partition(b"stream")
    data = rest.lstrip(b"\r\n").rsplit(b"endstream", 1)[0].rstrip(b"\r\n")
    filters = re.findall(rb"/(ASCII85Decode|FlateDecode)", head)
    for f in filters:
        if f == b"ASCII85Decode":
            data = base64.a85decode(data.strip().removeprefix(b"<~").removesuffix(b"~>"))
        else:
            data = zlib.decompress(data)
    return data


def _show_text(content: bytes) -> str:
    """Strings of Tj/TJ operators; a new line per text line (Td/TD/T*/Tm/ET)."""
    out = []
    for m in re.finditer(rb"\((?:\\.|[^\\)])*\)|\bT[dDm*](?!\w)|\bET\b", content, re.S):
        token = m.group(0)
        if token.startswith(b"("):
            out.append(_unescape(token[1:-1]))
        else:
            out.append("\n")
    return re.sub(r"\n\s*\n+", "\n", "".join(out))


def _unescape(s: bytes) -> str:
    def octal(m: re.Match) -> bytes:
        return bytes([int(m.group(1), 8)])

    s = re.sub(rb"\\([0-7]{1,3})", octal, s)
    s = re.sub(rb"\\(.)", lambda m: {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(m.group(1), m.group(1)), s)
    return s.decode("cp1252", errors="replace")
