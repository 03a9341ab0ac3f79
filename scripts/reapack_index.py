#!/usr/bin/env python3
"""Write index.xml, the ReaPack repository index of the REAPER scripts (reaper_scripts/).

ReaPack ("Extensions > ReaPack > Import repositories...") reads an index.xml at a URL and
installs the packages it lists. The index is made the way cfillion's reapack-index makes it
(a Ruby tool, not used here so that CI needs no Ruby): every .lua file under reaper_scripts/
is a package unless its header says @noindex; a package's header gives @description,
@version, @author, @link, @changelog and @provides (one file or glob per line, relative to the
package's folder, "[main]" registering it in the Action List); the package's folder is its
category; each file becomes a <source> whose URL is URL_TEMPLATE with $path (the file's path
in the repository) and $commit (the branch) filled in.

Header syntax (cfillion's metaheader): lines "-- @tag value", or "-- @tag" followed by lines
indented further ("--   value"), up to the first empty line; "@tag" alone is true.

Written by hand because the index format is a few XML elements (written with the standard
library's ElementTree) and the only maintained generator is the Ruby gem.

Usage: python3 scripts/reapack_index.py [--check] [--url-template URL] [--commit BRANCH]
"""

from __future__ import annotations

import argparse
import glob
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "reaper_scripts"
INDEX = ROOT / "index.xml"
REPOSITORY_NAME = "musicgen-bridge"
#: Where ReaPack downloads the files from: the repository's raw files.
#: Set the real owner/repository here (and in the package's @link) before publishing.
URL_TEMPLATE = "https://raw.githubusercontent.com/musicgen-bridge/musicgen-bridge/$commit/$path"
COMMIT = "main"

TAG_RE = re.compile(r"^\s*@(?P<key>\w+)(?:\s+(?P<value>.*?))?\s*$")
PROVIDES_RE = re.compile(r"^(?:\[\s*(?P<options>[^\]]+?)\s*\])?\s*(?P<pattern>.+?)\s*$")


def parse_header(text: str) -> dict:
    """The metaheader tags of a file: {tag: str (multiline joined with \\n) or True}."""
    tags: dict[str, object] = {}
    current = None
    tag_indent = 0
    for raw in text.splitlines():
        if not raw.strip():
            break
        line = raw[2:] if raw.startswith("--") else raw
        m = TAG_RE.match(line)
        if m:
            current = m.group("key").lower()
            tag_indent = len(line) - len(line.lstrip())
            tags[current] = m.group("value") if m.group("value") else True
            continue
        indent = len(line) - len(line.lstrip())
        if current is not None and indent > tag_indent and line.strip():
            old = tags[current]
            value = line.strip()
            tags[current] = value if old is True else f"{old}\n{value}"
        else:
            current = None
    return tags


def _url(path: str, template: str, commit: str) -> str:
    return template.replace("$commit", commit).replace("$path", quote(path, safe="/()"))


def packages(root: Path = SCRIPTS) -> list[dict]:
    """Every package under root: {path, category, name, tags, sources: [(file, main, repo_path)]}."""
    out = []
    for file in sorted(root.rglob("*.lua")):
        tags = parse_header(file.read_text(encoding="utf-8"))
        if tags.get("noindex") is True:
            continue
        for required in ("description", "version"):
            if not isinstance(tags.get(required), str):
                raise ValueError(f"{file.relative_to(ROOT)}: missing @{required}")
        if not re.match(r"^\d", tags["version"]) or "\n" in tags["version"]:
            raise ValueError(f"{file.relative_to(ROOT)}: @version must start with a digit")
        folder = file.parent
        sources = [(None, True, file.relative_to(ROOT).as_posix())]
        provides = tags.get("provides")
        for line in (provides.splitlines() if isinstance(provides, str) else []):
            m = PROVIDES_RE.match(line.strip())
            options = (m.group("options") or "").lower().split()
            for opt in options:
                if opt not in ("main", "nomain"):
                    raise ValueError(f"{file.name}: unsupported @provides option {opt!r}")
            matches = sorted(glob.glob(str(folder / m.group("pattern"))))
            if not matches:
                raise ValueError(f"{file.name}: @provides {m.group('pattern')!r} matches no file")
            for match in matches:
                rel = Path(match).relative_to(folder).as_posix()
                sources.append((rel, "main" in options, Path(match).relative_to(ROOT).as_posix()))
        out.append({"path": file, "category": folder.relative_to(ROOT).as_posix(), "name": file.name,
                    "tags": tags, "sources": sources})
    return out


def build_index(template: str = URL_TEMPLATE, commit: str = COMMIT) -> bytes:
    root = ET.Element("index", {"version": "1", "name": REPOSITORY_NAME})
    categories: dict[str, ET.Element] = {}
    for pkg in packages():
        cat = categories.get(pkg["category"])
        if cat is None:
            cat = categories[pkg["category"]] = ET.SubElement(root, "category", {"name": pkg["category"]})
        tags = pkg["tags"]
        node = ET.SubElement(cat, "reapack", {"name": pkg["name"], "type": "script", "desc": tags["description"]})
        if isinstance(tags.get("link"), str):
            meta = ET.SubElement(node, "metadata")
            for link in tags["link"].splitlines():
                ET.SubElement(meta, "link", {"rel": "website", "href": link.strip()}).text = link.strip()
        attrs = {"name": tags["version"]}
        if isinstance(tags.get("author"), str):
            attrs["author"] = tags["author"]
        version = ET.SubElement(node, "version", attrs)
        if isinstance(tags.get("changelog"), str):
            ET.SubElement(version, "changelog").text = tags["changelog"]
        for file_attr, main, repo_path in pkg["sources"]:
            src_attrs = {}
            if main:
                src_attrs["main"] = "main"
            if file_attr is not None:
                src_attrs["file"] = file_attr
            ET.SubElement(version, "source", src_attrs).text = _url(repo_path, template, commit)
    ET.indent(root, space="  ")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if index.xml is stale")
    parser.add_argument("--url-template", default=URL_TEMPLATE)
    parser.add_argument("--commit", default=COMMIT)
    args = parser.parse_args(argv)
    data = build_index(args.url_template, args.commit)
    if args.check:
        if not INDEX.exists() or INDEX.read_bytes() != data:
            print("index.xml is out of date: run python3 scripts/reapack_index.py", file=sys.stderr)
            return 1
        return 0
    INDEX.write_bytes(data)
    print(f"wrote {INDEX.relative_to(ROOT)} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
