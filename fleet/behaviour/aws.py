"""Behaviour rules for aws: see fleet/behaviour/__init__.py."""

from __future__ import annotations

from fleet.recorded import ResourceRule

RULES: tuple[ResourceRule, ...] = ()
