#!/usr/bin/env python3
"""Doxygen input filter for attune's headers (docs/Doxyfile: FILTER_PATTERNS).

attune's headers are commented with plain `//` comments, written to be read in the header. This
filter shows them to Doxygen without changing the files:
  - the comment block at the top of a header (after `#pragma once`) documents the file (`@file`);
  - a `//` comment on its own line documents the declaration below it (`///`);
  - a trailing `// text` after a member or enumerator documents it (`///< text`).
The comments are plain text full of math (p_ij, Σ_{j∈S}, v*, <T>), so outside `code spans` the
filter escapes what Markdown or Doxygen would read as markup: `<` before a letter, `*`, `_` except
inside identifiers, and the command characters `\`, `@`.
Usage (what Doxygen runs): python3 docs/doxygen_filter.py include/attune/attention.hpp
"""
import re
import sys

OWN_LINE = re.compile(r"^(\s*)//(?!/)\s?(.*)$")
TRAILING = re.compile(r"^([^\"']*?[;,{])(\s+)//(?!/)\s?(.*)$")
MARKUP = re.compile(r"<(?=[A-Za-z/])|\*|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|\\|@")


def escape(comment):
    parts = comment.split("`")
    for i in range(0, len(parts), 2):  # even parts lie outside code spans
        parts[i] = MARKUP.sub(lambda m: "\\" + m.group(0), parts[i])
    return "`".join(parts)


def filter_header(lines):
    out = []
    state = "start"  # start → head (file comment) → body
    for line in lines:
        text = line.rstrip("\n")
        if state == "start":
            if text.strip() == "#pragma once" or not text.strip():
                out.append(text)
                continue
            if OWN_LINE.match(text):
                state = "head"
                out.append("/// @file")
            else:
                state = "body"
        if state == "head":
            m = OWN_LINE.match(text)
            if m:
                out.append("/// " + escape(m.group(2)))
                continue
            state = "body"
            out.append("")  # end the file comment before the code starts
        # Comments inside function bodies become `///` too: Doxygen ignores them there.
        m = OWN_LINE.match(text)
        t = None if m else TRAILING.match(text)
        if m:
            out.append(m.group(1) + "/// " + escape(m.group(2)))
        elif t:
            out.append(t.group(1) + t.group(2) + "///< " + escape(t.group(3)))
        else:
            out.append(text)
    return out


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.stdout.write("\n".join(filter_header(f.readlines())) + "\n")
