"""fleet's guardrails as a CrossGuard policy pack: `pulumi preview --policy-pack policy`.

The rules are fleet/rules.py's resource_rules(day), the functions `fleet synth` runs offline; this
file only adapts what the policy SDK hands over (see guardrails.py) and starts the pack.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent):  # guardrails.py, and the fleet package of this repository
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from guardrails import PACK_NAME, policies  # noqa: E402
from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from fleet.stack import clock_today  # noqa: E402

if __name__ == "__main__":
    # The day the calendar is judged at: FLEET_AS_OF (as the program reads it), else today.
    today, trouble = clock_today()
    if trouble:
        sys.exit("\n".join(str(p) for p in trouble))
    PolicyPack(name=PACK_NAME, policies=policies(today), enforcement_level=EnforcementLevel.MANDATORY,
               description="fleet guardrails: the rules of fleet/rules.py, also run by `fleet synth`")
