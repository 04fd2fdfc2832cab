"""Plugins as text (``studio plugins``, ``studio doctor``) and as plain data (``studio plugins --json``)."""

from __future__ import annotations

from typing import Any

from studio.core.plugins.discovery import Registry
from studio.core.plugins.manifest import KIND_TITLES

STATUS_WORDS = {"loaded": "loaded", "ready": "ready (imported on first use)", "errors": "ERRORS", "broken": "BROKEN"}


def counts_line(reg: Registry) -> str:
    """``3 plugins: 2 loaded, 1 broken`` (or why there are none)."""
    if reg.disabled:
        return f"plugins are turned off ({reg.disabled})"
    if not reg.plugins:
        return "no plugins found"
    by: dict[str, int] = {}
    for p in reg.plugins:
        by[p.status] = by.get(p.status, 0) + 1
    parts = [
        f"{by[s]} {w}"
        for s, w in (("loaded", "loaded"), ("ready", "ready"), ("errors", "with errors"), ("broken", "broken"))
        if by.get(s)
    ]
    n = len(reg.plugins)
    return f"{n} plugin{'s' if n != 1 else ''}: {', '.join(parts)}"


def contributions_text(plugin) -> str:
    """``dataset format cvat; model architecture fcos_mobilenet_v3``."""
    return "; ".join(
        f"{KIND_TITLES[c.kind]} {c.name}" + ("" if c.state != "failed" else " (failed)") for c in plugin.contributions
    )


def format_text(reg: Registry, verbose: bool = True) -> str:
    lines = [f"{counts_line(reg)}; searched {reg.describe_places()}"]
    for p in reg.plugins:
        head = f"{p.name} {p.version}".strip()
        lines.append(f"{head}  [{STATUS_WORDS[p.status]}]  {p.source}: {p.location}")
        if p.description and verbose:
            lines.append(f"    {p.description}")
        if p.error:
            lines.append(f"    error: {p.error}")
            continue
        w = max(len(KIND_TITLES[c.kind]) for c in p.contributions)
        n = max(len(c.name) for c in p.contributions)
        for c in p.contributions:
            state = {"declared": "ready", "loaded": "loaded", "failed": "FAILED"}[c.state]
            lines.append(f"    {KIND_TITLES[c.kind]:<{w}}  {c.name:<{n}}  {state:<6}  {c.ref}")
            if c.error:
                lines.append(f"        error: {c.error}")
    return "\n".join(lines)


def to_dict(reg: Registry) -> dict[str, Any]:
    return {
        "disabled": reg.disabled,
        "searched": reg.describe_places(),
        "plugins": [
            {
                "name": p.name,
                "version": p.version,
                "description": p.description,
                "status": p.status,
                "source": p.source,
                "location": p.location,
                "error": p.error,
                "contributions": [
                    {
                        "kind": c.kind,
                        "name": c.name,
                        "title": c.title,
                        "object": c.ref,
                        "state": c.state,
                        "error": c.error,
                    }
                    for c in p.contributions
                ],
            }
            for p in reg.plugins
        ],
        "errors": reg.errors(),
    }
