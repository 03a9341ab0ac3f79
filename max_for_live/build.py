#!/usr/bin/env python3
"""Build the MusicGen Bridge Max for Live device from its text sources (Python stdlib only).

Sources (kept as text in git):
  max_for_live/MusicGen Bridge.maxpat   the patcher (Max JSON)
  max_for_live/src/*.js                 the device's JavaScript (ES5 for Max's [js] object)

Outputs (committed too, so users can drop the device into Live without building):
  max_for_live/MusicGen Bridge.amxd     the device to install: FROZEN, one file holding the
                                        patcher and the script (Max's way of sharing a device)
  max_for_live/MusicGen Bridge (two files).amxd
                                        the same device unfrozen: it loads musicgen_bridge.js
                                        from its own folder (the fallback install)
  max_for_live/musicgen_bridge.js       the script the device's [js] object loads: the modules
                                        of src/ bundled into one file

The .amxd format (checked against Ableton's maxdevtools, whose reader and reference devices
Test.amxd and FrozenTest.amxd were studied; none of its code is used here):
  chunks, each a 4-byte tag and a little-endian uint32 payload size: ``ampf`` (device type,
  ``aaaa`` = audio effect), ``meta`` (4 bytes: 1 in the unfrozen reference, 7 in the frozen
  one; their meaning is not documented, the references' values are written), ``ptch``.
  Unfrozen ``ptch``: the patcher JSON, NUL-terminated.
  Frozen ``ptch``: ``mx@c``, a big-endian uint32 header size (16), a big-endian uint64 offset of
  the footer (from the start of the payload); then the files back to back from byte 16, the
  device's patcher first (NUL-terminated, the NUL counted in its size); then the footer:
  ``dlst`` + big-endian uint32 size of the whole footer, then per file a ``dire`` entry
  (big-endian uint32 size of the whole entry) of fields, each a 4-byte tag, a big-endian uint32
  size of the whole field and the data: ``type`` (4 characters: ``JSON`` for the patcher,
  ``TEXT`` for a script), ``fnam`` (the file name, NUL-terminated, padded with NULs to a
  multiple of 4 bytes), ``sz32``, ``of32`` (offset from the start of the payload), ``vers``
  (0), ``flag`` (17 for the device's own entry, 0 for a script, as in the reference), ``mdat``
  (modification time, seconds since 1904-01-01 UTC; a fixed date here, so builds are
  reproducible).

All outputs are a pure function of the sources: building twice gives identical bytes, and the
tests check that the committed files equal a fresh build.

Usage: python3 max_for_live/build.py [--check]
  --check   build in memory and exit 1 if the committed outputs differ from a fresh build.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
PATCHER = HERE / "MusicGen Bridge.maxpat"
DEVICE = HERE / "MusicGen Bridge.amxd"
DEVICE_TWO_FILES = HERE / "MusicGen Bridge (two files).amxd"
BUNDLE = HERE / "musicgen_bridge.js"

#: Device types of the ``ampf`` chunk.
DEVICE_TYPES = {"audio_effect": b"aaaa", "midi_effect": b"mmmm", "instrument": b"iiii"}
#: ``meta`` payloads of Ableton's reference devices (Test.amxd, FrozenTest.amxd).
META_UNFROZEN = 1
META_FROZEN = 7
FROZEN_MAGIC = b"mx@c"
FROZEN_HEADER_SIZE = 16
FLAG_DEVICE = 17
FLAG_FILE = 0
#: mdat of every frozen file: 2025-11-27 00:00:00 UTC in seconds since 1904-01-01.
MDAT = 3847046400
HFS_TO_UNIX_S = 2082844800

#: Library modules, in dependency order; each becomes a scope whose ``exports`` the glue reads
#: through ``__mgb_modules``. The glue itself stays at the top level: Max calls its functions.
MODULES = ["mgb_limits", "mgb_protocol", "mgb_timing", "mgb_session"]
GLUE = "live_glue"


def chunk(tag: bytes, payload: bytes) -> bytes:
    """One chunk: a 4-byte tag, the payload size as a little-endian uint32, the payload."""
    if len(tag) != 4:
        raise ValueError(f"chunk tag must be 4 bytes: {tag!r}")
    return tag + struct.pack("<I", len(payload)) + payload


def build_amxd(patcher_bytes: bytes, device_type: str = "audio_effect") -> bytes:
    """The unfrozen .amxd bytes for a patcher given as its JSON text (kept byte for byte)."""
    json.loads(patcher_bytes.decode("utf-8"))  # refuse to wrap a patcher that is not JSON
    return (chunk(b"ampf", DEVICE_TYPES[device_type])
            + chunk(b"meta", struct.pack("<I", META_UNFROZEN))
            + chunk(b"ptch", patcher_bytes + b"\x00"))


def _field(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack(">I", 8 + len(data)) + data


def _name_field(name: str) -> bytes:
    raw = name.encode("utf-8") + b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


def build_frozen_amxd(patcher_bytes: bytes, device_name: str, files: list[tuple[str, bytes, bytes]],
                      device_type: str = "audio_effect", mdat: int = MDAT) -> bytes:
    """A frozen .amxd: the patcher (as ``device_name``, e.g. "MusicGen Bridge.amxd") and
    ``files`` [(name, 4-byte type such as b"TEXT", content)] in one ``ptch`` chunk."""
    json.loads(patcher_bytes.decode("utf-8"))
    entries = [(device_name, b"JSON", patcher_bytes + b"\x00", FLAG_DEVICE)]
    for name, kind, content in files:
        if len(kind) != 4:
            raise ValueError(f"file type must be 4 bytes: {kind!r}")
        entries.append((name, kind, content, FLAG_FILE))
    body = b""
    dires = b""
    offset = FROZEN_HEADER_SIZE
    for name, kind, content, flag in entries:
        fields = (_field(b"type", kind) + _field(b"fnam", _name_field(name))
                  + _field(b"sz32", struct.pack(">I", len(content)))
                  + _field(b"of32", struct.pack(">I", offset))
                  + _field(b"vers", struct.pack(">I", 0))
                  + _field(b"flag", struct.pack(">I", flag))
                  + _field(b"mdat", struct.pack(">I", mdat)))
        dires += b"dire" + struct.pack(">I", 8 + len(fields)) + fields
        body += content
        offset += len(content)
    footer = b"dlst" + struct.pack(">I", 8 + len(dires)) + dires
    ptch = FROZEN_MAGIC + struct.pack(">IQ", FROZEN_HEADER_SIZE, FROZEN_HEADER_SIZE + len(body)) + body + footer
    return (chunk(b"ampf", DEVICE_TYPES[device_type])
            + chunk(b"meta", struct.pack("<I", META_FROZEN))
            + chunk(b"ptch", ptch))


def _parse_frozen(ptch: bytes) -> list[dict]:
    """The files of a frozen ``ptch`` payload: [{name, type, flag, vers, mdat, data}]."""
    if len(ptch) < FROZEN_HEADER_SIZE:
        raise ValueError("frozen ptch shorter than its header")
    header_size, footer_at = struct.unpack(">IQ", ptch[4:16])
    if header_size != FROZEN_HEADER_SIZE or not FROZEN_HEADER_SIZE <= footer_at <= len(ptch) - 8:
        raise ValueError("frozen ptch header is inconsistent")
    footer = ptch[footer_at:]
    if footer[:4] != b"dlst" or struct.unpack(">I", footer[4:8])[0] != len(footer):
        raise ValueError("frozen ptch has no dlst footer of the recorded size")
    pos = 8
    files = []
    while pos < len(footer):
        if footer[pos:pos + 4] != b"dire":
            raise ValueError(f"footer entry at {pos} is not a dire")
        (size,) = struct.unpack(">I", footer[pos + 4:pos + 8])
        entry = footer[pos + 8:pos + size]
        if size < 8 or len(entry) != size - 8:
            raise ValueError("truncated dire entry")
        fields: dict[str, bytes] = {}
        fpos = 0
        while fpos < len(entry):
            tag = entry[fpos:fpos + 4].decode("ascii")
            (fsize,) = struct.unpack(">I", entry[fpos + 4:fpos + 8])
            if fsize < 8 or fpos + fsize > len(entry):
                raise ValueError(f"bad field {tag!r} in a dire entry")
            fields[tag] = entry[fpos + 8:fpos + fsize]
            fpos += fsize
        missing = {"type", "fnam", "sz32", "of32", "vers", "flag", "mdat"} - set(fields)
        if missing:
            raise ValueError(f"dire entry lacks {sorted(missing)}")
        name_raw = fields["fnam"]
        if not name_raw.endswith(b"\x00") or len(name_raw) % 4:
            raise ValueError("fnam is not NUL-terminated and padded to 4 bytes")
        (length,), (offset,) = struct.unpack(">I", fields["sz32"]), struct.unpack(">I", fields["of32"])
        if offset < FROZEN_HEADER_SIZE or offset + length > footer_at:
            raise ValueError("a frozen file lies outside the data area")
        files.append({
            "name": name_raw.rstrip(b"\x00").decode("utf-8"),
            "type": fields["type"].decode("ascii"),
            "flag": struct.unpack(">I", fields["flag"])[0],
            "vers": struct.unpack(">I", fields["vers"])[0],
            "mdat": struct.unpack(">I", fields["mdat"])[0],
            "offset": offset,
            "data": ptch[offset:offset + length],
        })
        pos += size
    if not files or files[0]["type"] != "JSON":
        raise ValueError("the first frozen file is not the device's patcher")
    return files


def parse_amxd(data: bytes) -> dict:
    """Split .amxd bytes into their chunks.

    Returns ``{"device_type": "aaaa", "meta": bytes, "patcher_text": str, "patcher": dict,
    "chunks": [tag, ...], "frozen": bool, "files": [...]}`` (``files``: the frozen files after
    the device's patcher, see _parse_frozen). Raises ``ValueError`` for anything else.
    """
    pos = 0
    chunks: dict[str, bytes] = {}
    order: list[str] = []
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError(f"truncated chunk header at byte {pos}")
        tag = data[pos:pos + 4].decode("ascii")
        (size,) = struct.unpack("<I", data[pos + 4:pos + 8])
        payload = data[pos + 8:pos + 8 + size]
        if len(payload) != size:
            raise ValueError(f"chunk {tag!r} claims {size} bytes, {len(payload)} present")
        if tag in chunks:
            raise ValueError(f"chunk {tag!r} appears twice")
        chunks[tag] = payload
        order.append(tag)
        pos += 8 + size
    if order[:1] != ["ampf"] or len(chunks.get("ampf", b"")) != 4:
        raise ValueError("an .amxd starts with an ampf chunk holding the 4-byte device type")
    if "ptch" not in chunks:
        raise ValueError("no ptch chunk")
    ptch = chunks["ptch"]
    frozen = ptch[:4] == FROZEN_MAGIC
    files: list[dict] = []
    if frozen:
        files = _parse_frozen(ptch)
        ptch = files.pop(0)["data"]
    if not ptch.endswith(b"\x00"):
        raise ValueError("the patcher is not NUL-terminated")
    text = ptch[:-1].decode("utf-8")
    return {
        "device_type": chunks["ampf"].decode("ascii"),
        "meta": chunks.get("meta", b""),
        "patcher_text": text,
        "patcher": json.loads(text),
        "chunks": order,
        "frozen": frozen,
        "files": files,
    }


def build_bundle(src: Path = SRC) -> str:
    """musicgen_bridge.js: the library modules in their own scopes, then the glue at top level."""
    parts = [
        "// musicgen_bridge.js - generated by max_for_live/build.py from max_for_live/src/.",
        "// Do not edit: change the files in src/ and run `python3 max_for_live/build.py`.",
        "// The [js] object of \"MusicGen Bridge.amxd\" loads this file from the device's folder.",
        "var __mgb_modules = {};",
    ]
    for name in MODULES:
        code = (src / f"{name}.js").read_text(encoding="utf-8")
        parts += [
            "",
            f"// ---- src/{name}.js " + "-" * max(4, 80 - len(name) - 16),
            "(function () {",
            "var exports = {};",
            code.rstrip("\n"),
            f"__mgb_modules[\"{name}\"] = exports;",
            "})();",
        ]
    glue = (src / f"{GLUE}.js").read_text(encoding="utf-8")
    parts += ["", f"// ---- src/{GLUE}.js " + "-" * max(4, 80 - len(GLUE) - 16), glue.rstrip("\n"), ""]
    return "\n".join(parts)


def outputs() -> dict[Path, bytes]:
    """Every build output and its bytes."""
    patcher = PATCHER.read_bytes()
    bundle = build_bundle().encode("utf-8")
    return {
        DEVICE: build_frozen_amxd(patcher, DEVICE.name, [(BUNDLE.name, b"TEXT", bundle)]),
        DEVICE_TWO_FILES: build_amxd(patcher),
        BUNDLE: bundle,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed outputs differ from a fresh build")
    args = parser.parse_args(argv)
    stale = []
    for path, data in outputs().items():
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(path.name)
        else:
            path.write_bytes(data)
            print(f"wrote {path.relative_to(HERE.parent)} ({len(data)} bytes)")
    if stale:
        print("out of date (run python3 max_for_live/build.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
