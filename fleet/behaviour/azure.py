"""Behaviour rules for azure: see fleet/behaviour/__init__.py."""

from __future__ import annotations

from fleet.recorded import ResourceRule

RULES: tuple[ResourceRule, ...] = ()
