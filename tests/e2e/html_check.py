#!/usr/bin/env python3
"""Checks that an HTML report is well formed and self-contained.

Usage: html_check.py FILE [ID...]

Parses the file with Python's html.parser: every element that is opened is closed in the
right order (void elements aside), and nothing refers to another resource (no script,
no src/href attributes, no url() or @import in styles). Prints `ok TAGS SVGS` or the problem
and exits 1. Each ID given must be the id of an element that holds text and is followed by
an <svg> (a section heading and its chart, e.g. the dashboard's `forecast`).
"""

import sys
from html.parser import HTMLParser

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}
# SVG shapes written as <rect .../> are reported by html.parser as start+end.


class Check(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.tags, self.svgs, self.errors = [], 0, 0, []
        # id -> [text seen inside it, svgs after it]
        self.ids, self.open_id = {}, None

    def handle_starttag(self, tag, attrs):
        self.tags += 1
        self.svgs += tag == "svg"
        if tag == "svg":
            for v in self.ids.values():
                v[1] += 1
        for k, v in attrs:
            if k == "id":
                self.ids[v] = ["", 0]
                self.open_id = v
        for k, v in attrs:
            if k in ("src", "href", "srcset", "action", "formaction") or k.startswith("on"):
                self.errors.append(f"<{tag} {k}=...> refers out or runs code")
        if tag in ("script", "iframe", "object", "embed", "link"):
            self.errors.append(f"<{tag}> is not allowed")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags += 1

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        self.open_id = None
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self.open_id is not None:
            self.ids[self.open_id][0] += data
        low = data.lower()
        if "url(" in low or "@import" in low:
            self.errors.append("a style refers to another resource")


c = Check()
c.feed(open(sys.argv[1], encoding="utf-8").read())
c.close()
if c.stack:
    c.errors.append(f"unclosed: {c.stack}")
for want in sys.argv[2:]:
    text, svgs = c.ids.get(want, ["", 0])
    if want not in c.ids or not text.strip() or svgs == 0:
        c.errors.append(f"no section #{want} with a heading and a chart after it")
if c.errors:
    print("\n".join(c.errors[:20]))
    sys.exit(1)
print(f"ok {c.tags} {c.svgs}")
