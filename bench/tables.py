"""Table output for the bench scripts: rich when available, else plain text or markdown."""

from __future__ import annotations

import sys


def render(
    title: str, headers: list[str], rows: list[list[str]], style: str, left: int = 1
) -> None:
    """Print a table; the first ``left`` columns are left-aligned, the others right-aligned."""
    if not rows:
        return
    if style == "rich":
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            style = "plain"
        else:
            table = Table(title=title, title_justify="left")
            for i, h in enumerate(headers):
                table.add_column(h, justify="left" if i < left else "right")
            for r in rows:
                table.add_row(*r)
            Console(width=None if sys.stdout.isatty() else 200).print(table)
            return
    if style == "markdown":
        print(f"\n**{title}**\n")
        print("| " + " | ".join(headers) + " |")
        print("|" + "|".join(" --- " if i < left else " ---: " for i in range(len(headers))) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        print()
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(f"\n{title}")
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    print()
