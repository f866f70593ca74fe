"""Kubernetes minor-version support calendar of EKS, AKS and GKE, as data, plus pure checks.

Dates are calendar days (UTC). An end date is the first day *without* that kind of support:
a version is treated as supported while ``today < end``. That matches EKS ("billing for extended
support starts at the beginning of the day that the version reaches end of standard support") and
is one day conservative for AKS, whose month-only dates mean "the last day of that month".

``released`` is the day the minor became generally available on that service: EKS release, AKS GA,
GKE availability in the Regular channel (GKE offers it earlier in the Rapid channel, without SLA).

``end_of_extended`` is EKS extended support (paid, on by default), AKS long-term support (LTS,
Premium tier, must be enabled on the cluster), and ``None`` for GKE: GKE's Extended channel gives
up to 24 months from Regular availability, but its per-version end dates were not retrieved.

Entries with ``estimated=True`` are not in the sources; their dates follow the service's documented
policy and its usual lag behind upstream Kubernetes. Replace them with published dates when known.
Nothing here reads a clock: every function takes ``today``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from fleet.problems import did_you_mean


@dataclass(frozen=True)
class MinorRelease:
    minor: str  # "1.33"
    released: date  # GA on that service
    end_of_standard: date  # end of standard support
    end_of_extended: date | None  # EKS extended support / AKS LTS / None
    estimated: bool = False


AS_OF = date(2026, 11, 22)

_M = MinorRelease

SUPPORT: dict[str, tuple[MinorRelease, ...]] = {
    # Amazon EKS: standard support 14 months after the EKS release, then 12 months extended.
    # 1.29-1.34: AWS "Amazon EKS Kubernetes release calendar" (exact days).
    # 1.35-1.36: end dates from endoflife.date (scraped from the same AWS table); `released` is
    # end_of_standard minus 14 months, as for every earlier row (endoflife.date lists the EKS-D
    # build dates 2026-01-28 and 2026-06-02 instead).
    "aws": (
        _M("1.29", date(2024, 1, 23), date(2025, 3, 23), date(2026, 3, 23)),
        _M("1.30", date(2024, 5, 23), date(2025, 7, 23), date(2026, 7, 23)),
        _M("1.31", date(2024, 9, 26), date(2025, 11, 26), date(2026, 11, 26)),
        _M("1.32", date(2025, 1, 23), date(2026, 3, 23), date(2027, 3, 23)),
        _M("1.33", date(2025, 5, 29), date(2026, 7, 29), date(2027, 7, 29)),
        _M("1.34", date(2025, 10, 2), date(2026, 12, 2), date(2027, 12, 2)),
        _M("1.35", date(2026, 1, 27), date(2027, 3, 27), date(2028, 3, 27)),
        _M("1.36", date(2026, 6, 2), date(2027, 8, 2), date(2028, 8, 2)),
        # Estimated: not in the sources (latest seen: 2026-08-22). Upstream 1.37 GA was planned for
        # late August 2026; EKS shipped 1.33-1.36 36-41 days after upstream, so ~2026-10-05, then
        # the 14 + 12 month policy.
        _M("1.37", date(2026, 10, 5), date(2027, 12, 5), date(2028, 12, 5), estimated=True),
    ),
    # Azure AKS: ~12 months community support after GA, then LTS (one more year) when enabled.
    # GA days from AKS release notes as collected by endoflife.date; end dates from Microsoft's
    # calendar ("Mar 2026" = 2026-03-31; explicit days for 1.30 and 1.31 standard end).
    # Microsoft's calendar lists 1.34 GA as "Nov 2025"; the release notes date GA 2026-01-04.
    "azure": (
        _M("1.29", date(2024, 3, 18), date(2025, 3, 31), date(2026, 4, 30)),
        _M("1.30", date(2024, 8, 5), date(2025, 8, 22), date(2026, 7, 31)),
        _M("1.31", date(2024, 10, 25), date(2025, 11, 1), date(2026, 11, 30)),
        _M("1.32", date(2025, 4, 6), date(2026, 3, 31), date(2027, 3, 31)),
        _M("1.33", date(2025, 6, 17), date(2026, 7, 31), date(2027, 7, 31)),
        _M("1.34", date(2026, 1, 4), date(2026, 11, 30), date(2027, 11, 30)),
        _M("1.35", date(2026, 3, 5), date(2027, 3, 31), date(2028, 3, 31)),
        _M("1.36", date(2026, 6, 30), date(2027, 6, 30), date(2028, 6, 30)),
        # Estimated: Microsoft's calendar (2026-08-05) *plans* GA "Oct 2026", end "Oct 2027", LTS end
        # "Oct 2028"; no GA announcement seen. GA taken as the last day of the planned month.
        _M("1.37", date(2026, 10, 31), date(2027, 10, 31), date(2028, 10, 31), estimated=True),
    ),
    # Google GKE: ~14 months of standard support after Regular-channel availability.
    # Dates from the GKE release schedule as collected by endoflife.date.
    "gcp": (
        _M("1.29", date(2024, 1, 26), date(2025, 4, 12), None),
        _M("1.30", date(2024, 7, 31), date(2025, 9, 30), None),
        _M("1.31", date(2024, 10, 25), date(2026, 1, 16), None),
        _M("1.32", date(2025, 2, 11), date(2026, 4, 11), None),
        _M("1.33", date(2025, 6, 3), date(2026, 8, 3), None),
        # 1.34 as listed (12 months, not ~14): the 14-month policy would give ~2026-11-30. Kept as
        # listed, which is the conservative reading; re-check against the GKE release schedule.
        _M("1.34", date(2025, 9, 30), date(2026, 10, 1), None),
        _M("1.35", date(2026, 2, 11), date(2027, 4, 11), None),
        _M("1.36", date(2026, 6, 9), date(2027, 8, 9), None),
        # Estimated: not in the sources. GKE reached Regular 34-56 days after upstream for
        # 1.33-1.36, so ~2026-10-13 for a late-August upstream 1.37, then 14 months.
        _M("1.37", date(2026, 10, 13), date(2027, 12, 13), None, estimated=True),
    ),
}

# The minor just before the table, for messages only: (standard end, extended/LTS end).
_BEFORE_TABLE: dict[str, tuple[str, date, date | None]] = {
    "aws": ("1.28", date(2024, 11, 26), date(2025, 11, 26)),
    "azure": ("1.28", date(2025, 1, 31), date(2026, 2, 28)),
    "gcp": ("1.28", date(2025, 2, 4), None),
}

SOURCES: dict[str, str] = {
    "aws": (
        "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html "
        "(release calendar, source awsdocs/amazon-eks-user-guide kubernetes-versions.adoc, rows 1.29-1.34); "
        "https://endoflife.date/amazon-eks (rows 1.35-1.36, repository state of 2026-08-22); "
        "retrieved 2026-11-22 from stored copies"
    ),
    "azure": (
        "https://learn.microsoft.com/azure/aks/supported-kubernetes-versions "
        "(release calendar and LTS table, page dated 2026-08-05); "
        "https://endoflife.date/azure-kubernetes-service (GA days from AKS release notes, "
        "repository state of 2026-08-22); retrieved 2026-11-22 from stored copies"
    ),
    "gcp": (
        "https://cloud.google.com/kubernetes-engine/docs/release-schedule via "
        "https://endoflife.date/google-kubernetes-engine (repository state of 2026-08-22); "
        "https://cloud.google.com/kubernetes-engine/versioning (support policy); "
        "retrieved 2026-11-22 from stored copies"
    ),
}

_SERVICE_NAMES = {"aws": "EKS", "azure": "AKS", "gcp": "GKE"}
_EXTENDED_NAMES = {"aws": "extended support", "azure": "LTS", "gcp": "extended support"}
_VERSION = re.compile(r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?")


def parse_version(text: str) -> tuple[int, int, int | None] | None:
    """'1.33' or '1.33.2' (optional leading 'v') -> (1, 33, 2|None); None when malformed."""
    if not isinstance(text, str):
        return None
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch) if patch is not None else None


def _releases(provider: str) -> tuple[MinorRelease, ...]:
    try:
        return SUPPORT[provider]
    except KeyError:
        raise ValueError(f"unknown provider {provider!r}{did_you_mean(provider, SUPPORT)}") from None


def _minor_key(minor: str) -> tuple[int, int]:
    major, _, number = minor.partition(".")
    return int(major), int(number)


def _support_end(release: MinorRelease, allow_extended: bool) -> date:
    if allow_extended and release.end_of_extended is not None:
        return release.end_of_extended
    return release.end_of_standard


def supported_minors(provider: str, today: date, allow_extended: bool = False) -> list[str]:
    """minors whose support (standard, or extended/LTS when allowed) has not ended on `today`
    and that are released on or before today."""
    return [r.minor for r in _releases(provider) if r.released <= today < _support_end(r, allow_extended)]


def _supported_text(provider: str, today: date, allow_extended: bool) -> str:
    minors = supported_minors(provider, today, allow_extended)
    return "supported: " + (", ".join(minors) if minors else "none known (update fleet/spec/versions.py)")


def _ended_text(provider: str, end_std: date, end_ext: date | None, today: date, allow_extended: bool) -> str:
    """'standard support ended X' plus what the extended/LTS period did or could do."""
    text = f"standard support ended {end_std.isoformat()}"
    if end_ext is None:
        return text
    name = _EXTENDED_NAMES[provider]
    if today >= end_ext:
        return f"{text}, {name} ended {end_ext.isoformat()}"
    if not allow_extended:
        return f"{text}; {name} runs until {end_ext.isoformat()} if you allow it"
    return text


def check_version(provider: str, version: str, today: date, allow_extended: bool = False) -> str | None:
    """None when fine; otherwise a one-line message a user can act on, e.g.
    "Kubernetes 1.28 is past end of support on aws (standard support ended 2024-11-26); supported: 1.33, 1.34, 1.35"
    or "'1.x' is not a Kubernetes version (expected MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 1.34)"
    or "Kubernetes 1.40 is not released on gcp yet; supported: ..."."""
    if provider not in SUPPORT:
        return (
            f"unknown provider '{provider}'{did_you_mean(provider, SUPPORT)}; expected one of: "
            + ", ".join(sorted(SUPPORT))
        )
    releases = SUPPORT[provider]
    parsed = parse_version(version)
    if parsed is None:
        published = {r.minor for r in releases if not r.estimated}
        current = [m for m in supported_minors(provider, today) if m in published]
        example = current[-1] if current else "1.34"
        return (
            f"'{version}' is not a Kubernetes version "
            f"(expected MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. {example})"
        )
    major, minor_number, _patch = parsed
    minor = f"{major}.{minor_number}"
    supported = _supported_text(provider, today, allow_extended)
    by_minor = {r.minor: r for r in releases}

    release = by_minor.get(minor)
    if release is None:
        key = (major, minor_number)
        if key > _minor_key(releases[-1].minor):
            return f"Kubernetes {minor} is not released on {provider} yet; {supported}"
        before, end_std, end_ext = _BEFORE_TABLE[provider]
        if minor == before:
            detail = f"standard support ended {end_std.isoformat()}"
            if end_ext is not None:
                verb = "ended" if today >= end_ext else "ends"
                detail += f", {_EXTENDED_NAMES[provider]} {verb} {end_ext.isoformat()}"
        else:
            detail = f"older than {before}, whose standard support ended {end_std.isoformat()}"
        return f"Kubernetes {minor} is past end of support on {provider} ({detail}); {supported}"

    if today < release.released:
        when = "expected around" if release.estimated else "expected"
        return (
            f"Kubernetes {minor} is not released on {provider} yet "
            f"({when} {release.released.isoformat()}); {supported}"
        )
    if today >= _support_end(release, allow_extended):
        detail = _ended_text(
            provider, release.end_of_standard, release.end_of_extended, today, allow_extended
        )
        return f"Kubernetes {minor} is past end of support on {provider} ({detail}); {supported}"
    return None


# --- the policy: what a date may refuse, and what it may only warn about ------------------------

ERROR, WARNING = "error", "warning"
DEFAULT_WARN_DAYS = 60
# What happens to a cluster past standard support that is not covered by extended support / LTS.
_UNCOVERED = {
    "aws": "EKS upgrades a cluster whose upgrade policy is STANDARD to the next minor automatically",
    "azure": "AKS no longer supports it (platform support only) until you upgrade",
    "gcp": "GKE upgrades it to the next minor automatically",
}
_EXTENDED_TERMS = {"aws": "billed per cluster hour", "azure": "needs the Premium tier"}


@dataclass(frozen=True)
class VersionPolicy:
    """The stack's fleet:versionPolicy: whether extended support (EKS) / LTS (AKS) may be relied on,
    and how many days before an end date warnings start."""

    extended_support: bool = False
    warn_days: int = DEFAULT_WARN_DAYS


@dataclass(frozen=True)
class Verdict:
    severity: str  # ERROR | WARNING
    message: str


def _newest(provider: str, today: date) -> str | None:
    minors = supported_minors(provider, today)
    return minors[-1] if minors else None


def _remedy(provider: str, minor: str, today: date) -> str:
    newer = [m for m in supported_minors(provider, today) if _minor_key(m) > _minor_key(minor)]
    target = newer[0] if newer else _newest(provider, today)
    step = f"upgrade to {target}" if target else "upgrade"
    return f"{step} through a rollout (README: Upgrading the fleet)"


def end_of_all_support(release: MinorRelease) -> date:
    """The first day without any support the calendar knows of (extended/LTS included)."""
    return release.end_of_extended or release.end_of_standard


def judge(provider: str, version: str, today: date, policy: VersionPolicy = VersionPolicy(),
          running: str | None = None) -> Verdict | None:
    """The calendar's verdict on `version` for one cluster on `today`.

    `running` is the minor the cluster runs now (None: a new cluster, or not known). A date alone
    never refuses what already runs: past standard support it is a warning (its date, the support
    it is on now, the remedy). Refused: a malformed or unknown version, a version not released yet,
    a version past the end of all support, and *introducing* (a new cluster, or a change to it) a
    version past standard support unless the policy allows extended support / LTS."""
    hard = hard_problem(provider, version, today)
    release = _release_of(provider, version)
    if hard is not None or release is None:
        return Verdict(ERROR, hard or f"Kubernetes {version} is unknown on {provider}")
    minor, service = release.minor, _SERVICE_NAMES[provider]
    introducing = running is None or _minor_of(running) != minor
    if today >= release.end_of_standard:
        return _past_standard(provider, release, today, policy, introducing)
    days = (release.end_of_standard - today).days
    if days <= policy.warn_days:
        return Verdict(WARNING, f"Kubernetes {minor} leaves standard support on {service} on "
                                f"{release.end_of_standard.isoformat()} (in {days} days); "
                                f"{_remedy(provider, minor, today)}")
    return None


def _past_standard(provider: str, release: MinorRelease, today: date, policy: VersionPolicy,
                   introducing: bool) -> Verdict:
    minor, service, name = release.minor, _SERVICE_NAMES[provider], _EXTENDED_NAMES[provider]
    ended = f"Kubernetes {minor} left standard support on {service} on {release.end_of_standard.isoformat()}"
    covered = policy.extended_support and release.end_of_extended is not None
    remedy = _remedy(provider, minor, today)
    if covered:
        assert release.end_of_extended is not None
        left = (release.end_of_extended - today).days
        terms = _EXTENDED_TERMS.get(provider, "")
        now = (f"it is on {service} {name} until {release.end_of_extended.isoformat()} (in {left} days"
               + (f"; {terms})" if terms else ")"))
        what = "introduced" if introducing else "running"
        return Verdict(WARNING, f"{ended}; {now}, {what} under fleet:versionPolicy.extendedSupport; {remedy}")
    if introducing:
        allow = (f", or set fleet:versionPolicy.extendedSupport: true to rely on {service} {name} until "
                 f"{release.end_of_extended.isoformat()}" if release.end_of_extended else "")
        return Verdict(ERROR, f"{ended}: a new cluster or a change may not introduce it; use "
                              f"{_newest(provider, today) or 'a supported version'}{allow}")
    return Verdict(WARNING, f"{ended}; it runs without {name} (fleet:versionPolicy.extendedSupport is off): "
                            f"{_UNCOVERED[provider]}; {remedy}")


def _minor_of(version: str) -> str | None:
    parsed = parse_version(version)
    return f"{parsed[0]}.{parsed[1]}" if parsed else None


def _release_of(provider: str, version: str) -> MinorRelease | None:
    minor = _minor_of(version)
    return next((r for r in SUPPORT.get(provider, ()) if r.minor == minor), None)


def hard_problem(provider: str, version: str, today: date) -> str | None:
    """What no policy and no running cluster can make acceptable: a malformed or unknown version,
    one not released yet, or one past the end of all support (extended/LTS included). The
    resource guardrails (pulumi preview/up through the policy pack) judge with this alone. The
    message lists the versions in standard support: what to move to."""
    if check_version(provider, version, today, allow_extended=True) is None:
        return None
    return check_version(provider, version, today)


# --- Cilium on EKS (where fleet installs it; AKS and GKE run the cloud's managed Cilium) ----------

# Kubernetes minors each Cilium minor is e2e-tested on ("All Kubernetes versions listed are e2e
# tested and guaranteed to be compatible with Cilium"), Documentation/network/kubernetes/
# compatibility.rst of cilium/cilium at each release: v1.18.14 lists 1.30-1.33, v1.19.3 lists
# 1.32-1.35. https://docs.cilium.io/en/stable/network/kubernetes/compatibility/
CILIUM_TESTED: dict[str, tuple[str, ...]] = {
    "1.18": ("1.30", "1.31", "1.32", "1.33"),
    "1.19": ("1.32", "1.33", "1.34", "1.35"),
}
# The release (chart version) fleet installs of each Cilium minor of the table.
CILIUM_RELEASES: dict[str, str] = {"1.18": "1.18.14", "1.19": "1.19.3"}
CILIUM_VERSION = CILIUM_RELEASES[max(CILIUM_RELEASES, key=_minor_key)]  # the newest release fleet knows
CILIUM_SOURCE = "https://docs.cilium.io/en/stable/network/kubernetes/compatibility/"


def default_cilium(kubernetes_minor: str) -> str:
    """The Cilium release a template gets without networking.ciliumVersion: the newest release of
    the compatibility table tested on its Kubernetes minor, so a new Kubernetes minor brings the
    Cilium made for it in the same template revision. No Cilium minor tested on it: the newest
    release fleet knows, which cilium_verdict then reports."""
    fits = [m for m, minors in CILIUM_TESTED.items() if kubernetes_minor in minors]
    return CILIUM_RELEASES[max(fits, key=_minor_key)] if fits else CILIUM_VERSION


def cilium_verdict(cilium_version: str, kubernetes_minor: str, introducing: bool) -> Verdict | None:
    """Whether a Cilium release is e2e-tested on the cluster's Kubernetes minor. Outside Cilium's
    table: refused when the change introduces the pair (a new cluster, another Kubernetes minor,
    or a Cilium version chosen in the template), a warning for a cluster that runs it already."""
    parsed = parse_version(cilium_version)
    if parsed is None or parsed[2] is None:
        return Verdict(ERROR, f"'{cilium_version}' is not a Cilium release (expected MAJOR.MINOR.PATCH, "
                              f"e.g. {CILIUM_VERSION})")
    minor = f"{parsed[0]}.{parsed[1]}"
    tested = CILIUM_TESTED.get(minor)
    if tested is None:
        known = ", ".join(CILIUM_TESTED)
        return Verdict(ERROR, f"Cilium {minor} is not in fleet's copy of Cilium's compatibility table (known: "
                              f"{known}); add its tested Kubernetes versions from {CILIUM_SOURCE} to "
                              "fleet/spec/versions.py")
    if kubernetes_minor in tested:
        return None
    fits = [m for m, minors in CILIUM_TESTED.items() if kubernetes_minor in minors]
    remedy = f"use Cilium {fits[-1]}.x (networking.ciliumVersion)" if fits else "choose another Kubernetes minor"
    message = (f"Cilium {cilium_version} is e2e-tested on Kubernetes {', '.join(tested)}, not "
               f"{kubernetes_minor} ({CILIUM_SOURCE}); {remedy}")
    return Verdict(ERROR if introducing else WARNING, message)


def _cell(provider: str, minor: str, today: date) -> str:
    release = next((r for r in SUPPORT[provider] if r.minor == minor), None)
    if release is None:
        return "—"
    text = release.end_of_standard.isoformat()
    if release.end_of_extended is not None:
        text += f" / {release.end_of_extended.isoformat()}"
    if release.estimated:
        text += "*"
    if today < release.released:
        text += " (not yet released)"
    elif today >= _support_end(release, allow_extended=True):
        text += " (ended)"
    elif today >= release.end_of_standard:
        text += f" ({_EXTENDED_NAMES[provider]} only)"
    return text


def support_table_markdown(today: date) -> str:
    """A Markdown table (minor | EKS standard end | AKS | GKE) for the README, with the sources below it."""
    minors = sorted({r.minor for releases in SUPPORT.values() for r in releases}, key=_minor_key)
    lines = [
        (
            f"Kubernetes support by managed service, status as of {today.isoformat()} "
            f"(calendar compiled {AS_OF.isoformat()})."
        ),
        "",
        "| Kubernetes | EKS standard end / extended end | AKS end / LTS end | GKE standard end |",
        "| --- | --- | --- | --- |",
    ]
    for minor in minors:
        cells = " | ".join(_cell(p, minor, today) for p in ("aws", "azure", "gcp"))
        lines.append(f"| {minor} | {cells} |")
    lines += [
        "",
        (
            "Support counts as ended on the listed day. * estimated from the service's policy, "
            "not yet published. EKS extended support costs extra; AKS LTS needs the Premium tier; "
            "GKE's Extended channel end dates are not tracked here."
        ),
        "",
        "Sources:",
        "",
    ]
    lines += [f"- {_SERVICE_NAMES[p]}: {SOURCES[p]}" for p in ("aws", "azure", "gcp")]
    return "\n".join(lines) + "\n"
