"""Agents: the shared contract (`base`), the offline Hebrew agent, and a factory.

`make_agent(name="offline", **kw)` builds an agent by name; build it once per process
(SEEDS.md seed 002 B: one agent instance, never per turn).
"""

from __future__ import annotations

from typing import Any

from voicectl.agent.base import Agent

__all__ = ["AGENT_NAMES", "make_agent"]

AGENT_NAMES: tuple[str, ...] = ("offline",)
"""Agent names `make_agent` knows."""


def make_agent(name: str = "offline", **kw: Any) -> Agent:
    """Build an agent by name.

    Args:
        name: "offline" (the rule-based Hebrew agent; case-insensitive).
        **kw: the offline agent takes `clock` and `settings` (ignored); other keyword
            arguments are ignored so every caller can pass the same set.

    Returns:
        The agent.

    Raises:
        ValueError: an unknown agent name.
    """
    key = (name or "").strip().lower()
    if key == "offline":
        from voicectl.agent.offline import OfflineAgent

        return OfflineAgent(clock=kw.get("clock"), settings=kw.get("settings"))
    raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(AGENT_NAMES)}")
