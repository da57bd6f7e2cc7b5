#!/usr/bin/env python3
"""Make batchd.conf(5) from configs/batchd.conf, the one documented list of
configuration keys: `make man` writes man/batchd.conf.5, and
tests/integration/test_docs.py fails when the two differ or when the keys
of either are not exactly the keys batchd accepts.

The file's shape: a header comment; then blocks of comment lines followed
by one or more "key = value" lines ("#key = value": unset by default);
"# ---...--- title" lines start a group; the first "#[" line starts the
plugin and instance sections, copied as they are.

usage: conf2man.py CONF > batchd.conf.5
"""
import re
import sys

KEY = re.compile(r"^#?([a-z][a-z0-9_]*) = ?(.*)$")
GROUP = re.compile(r"^# -+ (.+)$")


def esc(s):
    """Escape a line of text for mdoc."""
    s = s.replace("\\", "\\e")
    return "\\&" + s if s[:1] in (".", "'") else s


def parse(lines):
    """Split the file into its header, its keys in groups, and its tail."""
    header, groups, tail = [], [["", []]], []
    text, i = [], 0
    while i < len(lines) and lines[i].startswith("#"):
        header.append(lines[i][1:].strip())
        i += 1
    for j in range(i, len(lines)):
        line = lines[j]
        if line.startswith("#["):
            tail = lines[j:]
            break
        m = GROUP.match(line)
        if m:
            groups.append([m.group(1), []])
            text = []
            continue
        m = KEY.match(line)
        if m:
            groups[-1][1].append((m.group(1), m.group(2),
                                  line.startswith("#"), text))
            continue
        if line.startswith("#"):
            if groups[-1][1] and groups[-1][1][-1][3] is text:
                text = []	# a new block after keys
            text.append(line[1:].strip())
        elif not line.strip():
            text = []
    return header, [g for g in groups if g[1]], tail


def main():
    lines = open(sys.argv[1]).read().splitlines()
    header, groups, tail = parse(lines)
    out = [".\\\" Made from configs/batchd.conf by man/conf2man.py: edit that file, then make man.",
           ".Dd December 7, 2026", ".Dt BATCHD.CONF 5", ".Os",
           ".Sh NAME", ".Nm batchd.conf", ".Nd batchd configuration file",
           ".Sh DESCRIPTION"]
    out += [esc(h) for h in header if h]
    out += [".Pp", "Keys, with the value of the example file "
            "(unset where it is commented out):"]
    for title, keys in groups:
        if title:
            out.append(".Ss " + esc(title.capitalize()))
        out.append(".Bl -tag -width Ds")
        seen = None
        for name, value, unset, text in keys:
            item = ".It Cm " + name
            if value:
                item += " Li = " + ("(unset, e.g. " if unset else "") + \
                    esc(value).replace('"', '\\(dq') + (")" if unset else "")
            out.append(item)
            if text is not seen:
                out += [esc(t) for t in text if t] or ["See above."]
                seen = text
            else:
                out.append("As above.")
        out.append(".El")
    if tail:
        out += [".Sh SECTIONS", "Settings of one plugin, and of the clusters "
                "of one instance type (for their backend; they win over",
                "its [plugin.NAME] settings):", ".Bd -literal"]
        out += [esc(t) for t in tail]
        out.append(".Ed")
    out += [".Sh ENVIRONMENT", "Every key can be set by",
            ".Ev BATCHD_ Ns Ar KEY", "(its name in capitals), which wins over the file.",
            ".Sh SEE ALSO", ".Xr batchctl 1 ,", ".Xr batchd 8"]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
