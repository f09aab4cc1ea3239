"""Every relative link in README.md and docs/ points at a file that exists and, with a
``#fragment``, at a heading of that file (GitHub's anchor rules), so moving a section cannot
silently break the references to it."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of ``markdown`` (outside code fences): lower case,
    punctuation dropped, spaces as hyphens, ``-1``, ``-2`` ... on repeats."""
    seen: Counter[str] = Counter()
    found: set[str] = set()
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = re.match(r"#+ (.*)", line)
        if fenced or not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return found


def broken_links(source: Path) -> list[str]:
    """The relative links of ``source`` whose file or heading does not exist."""
    broken = []
    for link in LINK.findall(source.read_text(encoding="utf-8")):
        if link.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, fragment = link.partition("#")
        target = (source.parent / path).resolve() if path else source
        if not target.exists() or (
            fragment
            and target.suffix == ".md"
            and fragment not in anchors(target.read_text(encoding="utf-8"))
        ):
            broken.append(link)
    return broken


def test_anchors_follow_githubs_rules():
    text = "# Results\n## The demo (`make demo`, 2026-11-29)\n```\n# not a heading\n```\n# Results"
    assert anchors(text) == {"results", "the-demo-make-demo-2026-11-29", "results-1"}


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "a.md").write_text("# Here\n[ok](#here) [no](#there) [gone](b.md)\n")
    assert broken_links(tmp_path / "a.md") == ["#there", "b.md"]


def test_readme_and_docs_links_resolve():
    sources = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(sources) > 5
    assert {str(s.relative_to(ROOT)): broken_links(s) for s in sources if broken_links(s)} == {}
