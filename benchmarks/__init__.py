"""Performance benchmarks of fleet (`make bench`, i.e. `python -m benchmarks`); not part of the test suite.

Modules:
    declarations   generated fleets (blueprints + one ClusterSet) spanning AWS, Azure and GCP
    measure        whole-process wall time and peak RSS of one child process (os.wait4)
    baseline       the bare Pulumi SDK registering the same resources under the same mock engine
    startup        import time per cloud and which cloud SDKs a one-cloud fleet loads
    critical_path  the chain of resources a new region waits on, in modelled minutes
"""

import os

from fleet.spec.versions import AS_OF

# The generated fleets run Kubernetes 1.35: judged at the day the support calendar was compiled
# (unless FLEET_AS_OF says otherwise), a benchmark never fails only because a date passed. Set
# here, every benchmark's `fleet` process and in-process synth inherits it (fleet.stack.clock_today).
os.environ.setdefault("FLEET_AS_OF", AS_OF.isoformat())
