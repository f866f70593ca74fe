"""What the clouds, charts and operators enforce, and the mock engine does not.

The Pulumi mocks accept anything; a real `pulumi up` does not. Each rule here states one thing a
cloud API, a Helm chart or an operator does on its own (ordering, capacity, owned labels, names
that must change on replacement, propagation delays), cites the documentation or source it rests
on in its docstring, and judges the recorded stack (fleet.recorded) the way fleet.rules'
guardrails do: `fleet synth`, `fleet validate --deep` and the CrossGuard pack in policy/ all run
them. One module per area, each exporting RULES.
"""

from __future__ import annotations

from fleet.behaviour import access, aws, azure, gcp, gitops, kubernetes, traffic
from fleet.recorded import ResourceRule

RULES: tuple[ResourceRule, ...] = (*access.RULES, *aws.RULES, *azure.RULES, *gcp.RULES, *gitops.RULES,
                                   *kubernetes.RULES, *traffic.RULES)
