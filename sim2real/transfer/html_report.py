"""A self-contained ``report.html`` for compare and sweep: the report's text and tables, the plots inline
(base64 PNG), the settings and the command that reproduces it. One file to open in a browser or attach.

The text comes from the Markdown report (``report.md``), rendered here for the subset it uses: headings,
paragraphs, pipe tables, bullet lists, ``**bold**`` and ```code```; nothing is fetched at view time.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: left; }
th { background: #f0f0f0; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)/]+\.png)\)")  # ![alt](file.png): a plot beside the report


def _inline(text: str) -> str:
    """Escape, then ``**bold**`` and ```code```."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def markdown_to_html(md: str, base: Path | None = None) -> str:
    """The Markdown subset sim2real's reports use, as HTML; ``![alt](file.png)`` on a line of its own is inlined
    from ``base`` (the report's folder) when the file is there."""
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif IMAGE.fullmatch(line.strip()):
            alt, name = IMAGE.fullmatch(line.strip()).groups()
            if base is not None and (base / name).is_file():
                out.append(image_tag(base / name, alt))
            i += 1
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            body = [r for r in rows[1:] if not set(r.replace("|", "").strip()) <= set("-: ")]
            head = "".join(f"<th>{_inline(c)}</th>" for c in _cells(rows[0]))
            trs = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(r)) + "</tr>" for r in body)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append(f"<ul>{''.join(items)}</ul>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "|", "- ")):
                para.append(lines[i])
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)


def image_tag(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def video_tag(path: Path) -> str:
    """An MP4 inline (base64), captioned with its file name (the condition, outcome and dynamics)."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return (
        f'<figure><video controls loop muted width="360" src="data:video/mp4;base64,{data}"></video>'
        f"<figcaption><code>{html.escape(Path(path).name)}</code></figcaption></figure>"
    )


def write_html(
    path: Path,
    title: str,
    body_markdown: str,
    images: list[Path],
    settings_yaml: str,
    command: str | None,
    videos: list[Path] = (),
) -> Path:
    """Write the self-contained report to ``path`` (rollout ``videos`` inline when given); returns it."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        markdown_to_html(body_markdown, Path(path).parent),
        "<h2>Plots</h2>",
        *[image_tag(p, p.stem.replace("_", " ")) for p in images if Path(p).is_file()],
        *(["<h2>Rollouts</h2>", *[video_tag(v) for v in videos]] if videos else []),
        "<h2>Reproduce</h2>",
        f'<pre id="command">{html.escape(command or "the command line was not recorded (called as a library)")}</pre>',
        "<h2>Settings</h2>",
        f'<pre id="settings">{html.escape(settings_yaml)}</pre>',
        "</body></html>",
    ]
    path.write_text("\n".join(parts) + "\n")
    return path


def command_line(name: str) -> str | None:
    """``sim2real <name> <overrides>`` of the running Hydra job, or None outside one."""
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task)
    except (ValueError, ImportError):
        return None
    return " ".join(["sim2real", name, *overrides])
