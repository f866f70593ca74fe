"""The targeting difference between a pull request's base and head, per stack, for the preview
comment (`fleet targets --base DIR --format markdown`). Pure: two fleet.targets reports in, lines out.

A change can come from either half: the declaration (a new region, changed labels: the
registrations move) or the fleet repository (a changed selector, a new ApplicationSet: the targets
move). Warnings, each naming the target and the cluster:
- compliance-scope / environment-scope / placement-scope: a target reaches a cluster outside what
  it was written for: the values its base selectors pinned (`compliance`, `env`, `region`,
  `cloud`) or the placement labels its content declares (fleet.guard), e.g. a widened GDPR selector;
- lost-every-target: an add-on that reached clusters on the base reaches none on the head;
- duplicate-application and the other findings of fleet.targets (a missing path, an
  ApplicationSet Argo CD fails to render, ...) that the head has and the base had not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.guard import PLACEMENT_KEYS
from fleet.targets import Finding, Report, Target

# Mermaid's default maxTextSize is 50000 characters (mermaid config schema) and the comment holds
# about 60000 (pr-diff-comment.yml): a larger picture would not render, or crowd out the warnings.
MAX_PICTURE = 20000
SCOPE_RULES = {"COMPLIANCE": "compliance-scope", "ENVIRONMENT": "environment-scope"}
_IDENTITY_TO_PLACEMENT = {v: k for k, v in PLACEMENT_KEYS.items()}


@dataclass(frozen=True)
class Movement:
    key: str
    engine: str
    before: frozenset[str]
    after: frozenset[str]
    status: str  # added | removed | changed

    @property
    def gained(self) -> list[str]:
        return sorted(self.after - self.before)

    @property
    def lost(self) -> list[str]:
        return sorted(self.before - self.after)


@dataclass
class Preview:
    stack: str
    movements: list[Movement] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: int = 0

    @property
    def equal(self) -> bool:
        return not (self.movements or self.warnings or self.notes)


def scope_of(target: Target) -> dict[str, set[str]]:
    """Identity key -> values the target was written for: its selectors' pins and its content's placement."""
    scope = {key: set(values) for key, values in target.scope.items()}
    for declared in target.placements.values():
        for key, value in declared.items():
            scope.setdefault(PLACEMENT_KEYS[key], set()).add(value)
    return scope


def compare(base: Report | None, head: Report) -> Preview:
    preview = Preview(head.stack, targets=len(head.targets))
    before = base.targets if base else {}
    for key in sorted(set(before) | set(head.targets)):
        old, new = before.get(key), head.targets.get(key)
        was = frozenset(old.clusters) if old else frozenset()
        now = frozenset(new.clusters) if new else frozenset()
        status = "added" if old is None else "removed" if new is None else "changed"
        if was != now or status != "changed":
            preview.movements.append(Movement(key, (new or old).engine, was, now, status))  # type: ignore[union-attr]
        if old is not None and was and not now:
            what = "is removed" if new is None else "reaches no cluster any more"
            preview.warnings.append(Finding("lost-every-target", key, ", ".join(sorted(was)),
                                            f"{what}: it reached {len(was)} cluster(s) on the base"))
        if new is not None:
            preview.warnings += _out_of_scope(old, new, was, head)
            for reason in new.unevaluated:
                if old is None or reason not in old.unevaluated:
                    preview.notes.append(f"{key}: not evaluated: {reason}")
    known = set(base.findings) if base else set()
    preview.warnings += [f for f in head.findings if f not in known
                         and not any(_same_misplacement(f, w) for w in preview.warnings)]
    return preview


def _out_of_scope(old: Target | None, new: Target, was: frozenset[str], head: Report) -> list[Finding]:
    """Clusters newly reached that the base version of the target was not written for."""
    if old is None:
        return []
    scope = scope_of(old)
    found = []
    for cluster in sorted(set(new.clusters) - was):
        identity = head.identities.get(cluster, {})
        for key, allowed in sorted(scope.items()):
            have = identity.get(key)
            if have not in allowed:
                rule = SCOPE_RULES.get(key, "placement-scope")
                shown = "not set" if have is None else f"'{have}'"
                found.append(Finding(rule, new.key, cluster,
                                     f"was written for {_IDENTITY_TO_PLACEMENT.get(key, key)} in "
                                     f"{sorted(allowed)} and now reaches {cluster}, whose {key} is {shown}"))
    return found


def _same_misplacement(finding: Finding, warning: Finding) -> bool:
    return finding.rule == "misplaced" and (finding.target, finding.cluster) == (warning.target, warning.cluster)


# --- rendering -----------------------------------------------------------------------------------


def render_markdown(preview: Preview, title: str, picture: str = "") -> str:
    lines = [f"### Targeting: {title}", ""]
    if preview.warnings:
        lines += ["> [!CAUTION]", f"> **{len(preview.warnings)} targeting warning(s)**: what lands where changes "
                  "in a way the fleet was not written for.", ">"]
        lines += [f"> - **{w.rule}**: `{w.target}` on `{w.cluster}`: {_md(w.message)}" for w in preview.warnings]
        lines.append("")
    if preview.movements:
        lines += ["| target | engine | clusters (head) | change |", "| --- | --- | --- | --- |"]
        for m in preview.movements:
            change = {"added": "new", "removed": "removed"}.get(m.status, "")
            moved = [f"+`{c}`" for c in m.gained] + [f"-`{c}`" for c in m.lost]
            text = ", ".join(x for x in [change, " ".join(moved)] if x)
            lines.append(f"| `{_md(m.key)}` | {m.engine} | {len(m.after)} | {text} |")
        lines.append("")
    else:
        lines += [f"No targeting change ({preview.targets} targets evaluated).", ""]
    if preview.notes:
        lines += ["<details><summary>Not evaluated offline</summary>", ""]
        lines += [f"- {_md(n)}" for n in preview.notes] + ["", "</details>", ""]
    if picture and len(picture) > MAX_PICTURE:
        lines += [f"The fleet's picture is too large for the comment ({len(picture)} characters); "
                  "`fleet plan --format mermaid --base DIR` draws it.", ""]
    elif picture:
        lines += ["<details open><summary>The fleet (added, changed, removed clusters marked)</summary>", "",
                  picture.rstrip("\n"), "", "</details>", ""]
    return "\n".join(lines) + "\n"


def render_text(preview: Preview) -> str:
    lines = [f"targeting: stack {preview.stack}"]
    lines += [f"WARNING {w.rule}: {w.target} on {w.cluster}: {w.message}" for w in preview.warnings]
    for m in preview.movements:
        moved = " ".join([f"+{c}" for c in m.gained] + [f"-{c}" for c in m.lost])
        lines.append(f"{m.status:8} {m.key} ({m.engine}) {moved}".rstrip())
    lines += [f"note: {n}" for n in preview.notes]
    if preview.equal:
        lines.append(f"no targeting change ({preview.targets} targets)")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
