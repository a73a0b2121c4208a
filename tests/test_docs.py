"""The documentation: every relative link resolves, the README stays short and keeps the set-up
commands `.ci/run` relies on, and `wlos-app analyze --help` shows examples that docs/usage.md has."""
from __future__ import annotations

import contextlib
import io
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
USAGE = ROOT / "docs" / "usage.md"
SETUP_COMMANDS = (
    "scripts/setup.sh && .venv/bin/wlos-app",
    "scripts/setup.sh --test && QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q",
)
MAX_README_LINES = 170
DOC_PAGES = ("usage", "design", "layout", "accuracy", "drift", "reliability", "performance", "training")


def doc_files() -> list[Path]:
    files = [README, ROOT / "trainer" / "README.md"]
    files += sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "resources").glob("*.md"))
    return [f for f in files if f.exists()]


_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target); the target ends at whitespace or ")" (an optional "title" follows).
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)


def links(text: str) -> list[str]:
    """Link and image targets in markdown, outside code blocks and code spans."""
    text = _CODE.sub("", _FENCE.sub("", text))
    return _LINK.findall(text) + _REF.findall(text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    h = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading).strip().lower()
    h = "".join(c for c in h if c in " -_" or unicodedata.category(c)[0] in "LMN")
    return h.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return out


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for target in links(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{path.relative_to(root)}: link to {target!r}: {dest} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{path.relative_to(root)}: link to {target!r}: no heading #{anchor} "
                            f"in {dest.relative_to(root)}")
    return problems


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    problems = broken_links(path)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_link_check_can_fail(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](page.md#title) [gone](missing.md) ![img](no.png) [a](#nowhere)\n"
                    "`[not a link](x.md)`\n```\n[nor this](y.md)\n```\n[web](https://example.org/z.md)\n")
    problems = broken_links(page, tmp_path)
    assert len(problems) == 3, problems
    assert any("missing.md" in p for p in problems) and any("no.png" in p for p in problems)
    assert any("#nowhere" in p for p in problems)


def test_the_docs_pages_exist_and_start_with_a_summary():
    for name in DOC_PAGES:
        page = ROOT / "docs" / f"{name}.md"
        assert page.exists(), f"docs/{name}.md is missing"
        lines = page.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# "), f"docs/{name}.md should start with a title"
        assert lines[1] == "" and lines[2] and lines[3] and lines[4] == "", \
            f"docs/{name}.md should follow its title with a two-line summary"


def test_readme_is_short_and_keeps_the_setup_commands():
    text = README.read_text(encoding="utf-8")
    n = len(text.splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; keep it under {MAX_README_LINES} (detail goes in docs/)"
    for command in SETUP_COMMANDS:
        assert command in text.splitlines(), f"README.md lost the set-up command line {command!r}"
    assert "WLOS_REQUIRE_SHARED" in text and "../shared/data/grid_s1_sample" in text


def test_ci_runs_the_readme_test_command():
    assert SETUP_COMMANDS[1] in (ROOT / ".ci" / "run").read_text()


def _normal(line: str) -> str:
    return " ".join(line.split())


def analyze_help() -> str:
    from wlos_app.cli import build_parser
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args(["analyze", "--help"])
    return out.getvalue()


def test_analyze_help_examples_are_in_usage_md():
    from wlos_app.cli import ANALYZE_EPILOG
    examples = [_normal(line) for line in ANALYZE_EPILOG.splitlines() if line.strip().startswith("wlos-app ")]
    assert len(examples) >= 4, "wlos-app analyze --help should show a few examples"
    shown = {_normal(line) for line in analyze_help().splitlines()}
    usage = {_normal(line) for line in USAGE.read_text(encoding="utf-8").splitlines()}
    for example in examples:
        assert example in shown, f"`wlos-app analyze --help` does not show {example!r}"
        assert example in usage, f"docs/usage.md lacks the --help example {example!r} (keep them equal)"
