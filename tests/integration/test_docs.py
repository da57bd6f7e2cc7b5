"""The configuration reference is one list: configs/batchd.conf. Every key
batchd accepts is documented there, every key documented there is
accepted, batchd.conf(5) is made from it, and the README's table names
only keys that exist. The API reference, batchd(8), names every verb
batchd serves, and only those; so does the README's overview, and its
pointers into batchd(8) name sections that exist."""
import glob
import os
import re
import subprocess
import sys

from harness import BATCHD_BIN, REPO_ROOT

CONF = os.path.join(REPO_ROOT, "configs", "batchd.conf")
MAN = os.path.join(REPO_ROOT, "man", "batchd.conf.5")
GEN = os.path.join(REPO_ROOT, "man", "conf2man.py")


def accepted_keys(tmp_path):
    """The keys batchd itself prints with --check-config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHD_")}
    env["BATCHD_DATA_DIR"] = str(tmp_path / "var")
    out = subprocess.run([BATCHD_BIN, "--check-config"], env=env,
                         capture_output=True, text=True, timeout=30,
                         check=True).stdout
    keys = {m.group(1) for m in re.finditer(r"^#?([a-z][a-z0-9_]*) =",
                                            out, re.M)}
    assert len(keys) > 30, out
    return keys


def documented_keys():
    """The top-level keys of configs/batchd.conf, set or commented out."""
    keys = set()
    for line in open(CONF):
        if line.startswith("#["):
            break
        m = re.match(r"^#?([a-z][a-z0-9_]*) = ?", line)
        if m:
            keys.add(m.group(1))
    return keys


def test_every_key_documented_once(tmp_path):
    accepted, documented = accepted_keys(tmp_path), documented_keys()
    assert accepted - documented == set(), "accepted but not documented"
    assert documented - accepted == set(), "documented but not accepted"


def test_documented_keys_are_accepted_by_batchd(tmp_path):
    """Each key of the example file, set to its example value through the
    environment, is one batchd takes (a file of them all parses)."""
    path = tmp_path / "all.conf"
    lines = []
    for line in open(CONF):
        if line.startswith("#["):
            break
        if re.match(r"^[a-z][a-z0-9_]* = ", line):
            lines.append(line)
    path.write_text("".join(lines))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHD_")}
    env["BATCHD_DATA_DIR"] = str(tmp_path / "var")
    r = subprocess.run([BATCHD_BIN, "-c", str(path), "--check-config"],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_man_page_is_made_from_the_example_file():
    made = subprocess.run([sys.executable, GEN, CONF], capture_output=True,
                          text=True, check=True).stdout
    assert open(MAN).read() == made, \
        "man/batchd.conf.5 is stale: run make man"


def test_readme_table_names_only_accepted_keys(tmp_path):
    accepted = accepted_keys(tmp_path)
    text = open(os.path.join(REPO_ROOT, "README.md")).read()
    table = text[text.index("## Configuration"):text.index("## Plugins")]
    named = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            named |= set(re.findall(r"`([a-z][a-z0-9_]*)`",
                                    row.split("|")[1]))
    assert named, "no configuration table in the README"
    assert named - accepted == set()


def test_man_page_names_every_verb():
    served = served_verbs()
    assert len(served) > 15, served
    man = open(os.path.join(REPO_ROOT, "man", "batchd.8")).read()
    api = man[man.index(".Sh API"):]
    api = api[:api.index("\n.Sh ")]
    listed = set()
    for line in api.splitlines():
        if line.startswith(".It Li "):
            listed |= {w.strip() for w in line[len(".It Li "):].split(",")}
    assert listed == served, (listed - served, served - listed)


def served_verbs():
    served = set()
    for f in glob.glob(os.path.join(REPO_ROOT, "daemon", "*.c")):
        served |= set(re.findall(r'\.name = "([a-z]+\.[a-z_]+)"',
                                 open(f).read()))
    return served


def test_readme_lists_every_verb():
    """The README's API overview lists each kind's verbs, all of them."""
    text = open(os.path.join(REPO_ROOT, "README.md")).read()
    api = text[text.index("## API"):]
    api = api[:api.index("\n## ")]
    listed = set()
    for m in re.finditer(r"^- `([a-z]+)\.` (.*)$", api, re.M):
        listed |= {m.group(1) + "." + v
                   for v in re.findall(r"`([a-z_]+)`", m.group(2))}
    assert listed == served_verbs(), (listed - served_verbs(),
                                      served_verbs() - listed)


def test_readme_points_at_sections_that_exist():
    """Each "[`batchd(8)`](man/batchd.8), SECTION" of the README names a
    section of the page, so that moving text there leaves no dead
    pointer."""
    text = open(os.path.join(REPO_ROOT, "README.md")).read()
    man = open(os.path.join(REPO_ROOT, "man", "batchd.8")).read()
    sections = set(re.findall(r"^\.Sh (.+)$", man, re.M))
    named = re.findall(r"\]\(man/batchd\.8\), ([A-Z][A-Z ]*[A-Z])", text)
    assert named, "the README points at no section of batchd(8)"
    assert set(named) - sections == set(), sections
