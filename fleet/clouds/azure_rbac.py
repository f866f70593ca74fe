"""Propagation gates: nothing uses an Azure role assignment before Azure enforces it.

"Azure Resource Manager sometimes caches configurations and data to improve performance. When you
assign roles or remove role assignments, it can take up to 10 minutes for changes to take effect."
(https://learn.microsoft.com/azure/role-based-access-control/troubleshooting#symptom---role-assignment-changes-are-not-being-detected).
A Kubernetes call or a cluster creation made in that window fails with 403/KMS errors, and the
update has to be re-run. A gate is a resource between the assignments and their first user:

- ``kubernetes-access``: polls the cluster, as the identity running ``pulumi up`` (the cluster's
  own exec-plugin kubeconfig), with a SelfSubjectAccessReview for ``* * *`` until the AKS RBAC
  webhook allows it. A probe, not a sleep: it returns as soon as the permission works and fails
  with one clear line when it still does not after the bound.
- ``assignment-age``: for a permission only another identity can exercise (the control plane's
  Key Vault and network roles: the deployer cannot act as it), waits until the newest assignment
  is ``min_age_seconds`` old, the documented propagation bound. The wait is visible (its length is
  an input of the gate, shown by ``pulumi preview``) and is spent only once, when the gate is created.

The gate is a Pulumi dynamic resource: under the synth engine's mocks its ``create`` never runs
(the fake answers it like any resource), so the offline graph records it and its dependencies and
rules (fleet.behaviour.azure) check that every first use waits for one. Only the standard library
and PyYAML are used here: the dynamic provider runs in Pulumi's provider host process.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi.dynamic
import yaml

from fleet.clouds.markers import GATE_MARKER

KUBERNETES_ACCESS = "kubernetes-access"
ASSIGNMENT_AGE = "assignment-age"

PROPAGATION_SECONDS = 600  # "up to 10 minutes" (Azure RBAC troubleshooting, above)
PROBE_TIMEOUT_SECONDS = 900  # the documented bound plus token and API latency
PROBE_INTERVAL_SECONDS = 15

ACCESS_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
EVERYTHING = {"verb": "*", "group": "*", "resource": "*"}


class GateTimeoutError(Exception):
    pass


# --- the probes (pure where they can be) ---------------------------------------------------------


def remaining_wait(created: Sequence[str], min_age_seconds: int, now: dt.datetime) -> float:
    """Seconds until the newest of `created` (ISO 8601 times) is min_age_seconds old, never
    negative and never more than min_age_seconds (a clock skew cannot make the wait unbounded)."""
    stamps = [dt.datetime.fromisoformat(c.replace("Z", "+00:00")) for c in created if c]
    if not stamps:
        return float(min_age_seconds)
    newest = max(s if s.tzinfo else s.replace(tzinfo=dt.UTC) for s in stamps)
    left = (newest + dt.timedelta(seconds=min_age_seconds) - now).total_seconds()
    return max(0.0, min(float(min_age_seconds), left))


def access_review_allowed(response: Mapping[str, Any]) -> bool:
    status = response.get("status") or {}
    return bool(status.get("allowed")) and not status.get("denied")


def exec_token(user: Mapping[str, Any], run: Callable[..., Any] = subprocess.run) -> str:
    """A bearer token from the kubeconfig user's exec plugin (kubelogin), as kubectl would get it."""
    plugin = user["exec"]
    env = {**os.environ, **{e["name"]: e["value"] for e in plugin.get("env") or []}}
    result = run([plugin["command"], *plugin.get("args", [])], capture_output=True, text=True, env=env,
                 timeout=120, check=True)
    return json.loads(result.stdout)["status"]["token"]


def wait_until(probe: Callable[[], bool], timeout: float, interval: float,
               clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> int:
    """Call probe until it returns True; the number of attempts, or GateTimeoutError after `timeout`."""
    deadline = clock() + timeout
    attempts = 0
    while True:
        attempts += 1
        if probe():
            return attempts
        if clock() + interval > deadline:
            raise GateTimeoutError(f"still denied after {attempts} attempts in {timeout:.0f} s")
        sleep(interval)


def kubernetes_probe(kubeconfig: str) -> Callable[[], bool]:
    """One SelfSubjectAccessReview against the kubeconfig's cluster per call."""
    document = yaml.safe_load(kubeconfig)
    cluster = document["clusters"][0]["cluster"]
    user = document["users"][0]["user"]
    context = ssl.create_default_context()
    if cluster.get("certificate-authority-data"):
        context.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    body = json.dumps({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                       "spec": {"resourceAttributes": EVERYTHING}}).encode()

    def probe() -> bool:
        request = urllib.request.Request(
            cluster["server"].rstrip("/") + ACCESS_REVIEW_PATH, data=body, method="POST",
            headers={"Authorization": f"Bearer {exec_token(user)}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                return access_review_allowed(json.load(response))
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):  # the assignment is not effective yet
                return False
            raise

    return probe


# --- the dynamic resource ------------------------------------------------------------------------


class _GateProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        cluster, kind = props["cluster"], props["kind"]
        started = time.monotonic()
        try:
            if kind == KUBERNETES_ACCESS:
                attempts = wait_until(kubernetes_probe(props["kubeconfig"]), props["timeoutSeconds"],
                                      PROBE_INTERVAL_SECONDS)
            else:
                time.sleep(remaining_wait(props["createdOn"], props["minAgeSeconds"], dt.datetime.now(dt.UTC)))
                attempts = 1
        except GateTimeoutError as error:
            raise RuntimeError(
                f"cluster {cluster}: the role assignments {', '.join(props['assignments'])} are not "
                f"effective on the Kubernetes API ({error}); check that the deploying identity is the "
                "one fleet assigned AKS RBAC Cluster Admin to, then run `pulumi up` again") from None
        waited = round(time.monotonic() - started)
        return pulumi.dynamic.CreateResult(
            id_=f"{cluster}-{kind}", outs={**props, "waitedSeconds": waited, "attempts": attempts})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        # Only a new assignment needs a new wait; a rotated kubeconfig alone does not.
        replaces = [k for k in ("assignments", "kind") if olds.get(k) != news.get(k)]
        return pulumi.dynamic.DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)


class PropagationGate(pulumi.dynamic.Resource):
    """Created once the assignments exist and are effective; their first user depends on it."""

    def __init__(self, name: str, *, cluster: str, kind: str, assignments: Sequence[pulumi.Resource],
                 assignment_ids: Sequence[pulumi.Input[str]], parent: pulumi.Resource,
                 kubeconfig: pulumi.Input[str] | None = None,
                 created_on: Sequence[pulumi.Input[str]] = ()) -> None:
        props: dict[str, Any] = {
            "gate": GATE_MARKER, "cluster": cluster, "kind": kind, "assignments": list(assignment_ids),
        }
        if kind == KUBERNETES_ACCESS:
            props.update(kubeconfig=kubeconfig, timeoutSeconds=PROBE_TIMEOUT_SECONDS)
        else:
            props.update(createdOn=list(created_on), minAgeSeconds=PROPAGATION_SECONDS)
        props.update(waitedSeconds=None, attempts=None)
        super().__init__(_GateProvider(), name, props,
                         pulumi.ResourceOptions(parent=parent, depends_on=list(assignments),
                                                additional_secret_outputs=["kubeconfig"]))
