"""azure-native's API-version aliases are dropped before the SDK turns them into URNs; others stay."""

from __future__ import annotations

import pulumi
import pytest

from fleet.clouds.aliases import is_api_version_alias

MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"


@pytest.mark.parametrize(("alias", "dropped"), [
    (pulumi.Alias(type_="azure-native:containerservice/v20240801:ManagedCluster"), True),
    (pulumi.Alias(type_="azure-native:containerservice/v20220102preview:ManagedCluster"), True),
    # a different kind or module is a rename, not an API version of this type
    (pulumi.Alias(type_="azure-native:containerservice/v20240801:AgentPool"), False),
    (pulumi.Alias(type_="azure-native:insights/v20210501preview:ManagedCluster"), False),
    (pulumi.Alias(type_="azure-native:containerservice:ManagedCluster"), False),
    # anything that moves the resource elsewhere (name, parent, stack, project) is the user's
    (pulumi.Alias(type_="azure-native:containerservice/v20240801:ManagedCluster", name="old"), False),
    (pulumi.Alias(name="old"), False),
    ("urn:pulumi:prod::fleet::azure-native:containerservice/v20240801:ManagedCluster::x", False),
    (pulumi.Alias(type_="aws:eks/v1:Cluster"), False),
])
def test_only_api_version_aliases_of_the_same_type_are_dropped(alias, dropped):
    assert is_api_version_alias(MANAGED_CLUSTER, alias) is dropped


def _unversioned(type_: str) -> str:
    package, module_path, kind = type_.split(":")
    return f"{package}:{module_path.split('/')[0]}:{kind}"


def test_synth_sends_no_api_version_alias_and_keeps_renames(prod_synth):
    azure = [r for r in prod_synth["resources"] if r["type"].startswith("azure-native:")]
    assert len(azure) > 30, "the prod stack has Azure clusters"
    sent = [(r["type"], a["spec"]["type"]) for r in azure for a in (r.get("options") or {}).get("aliases", [])]
    assert [(t, a) for t, a in sent if _unversioned(a) == t] == []
    assert len(sent) < len(azure)  # was 1,356 aliases for 36 resources
    # renames the SDKs declare stay: insights -> monitor for diagnostic settings, GCP's serviceAccount casing
    assert ("azure-native:monitor:DiagnosticSetting", "azure-native:insights:DiagnosticSetting") in sent
    gcp = {a["spec"]["type"] for r in prod_synth["resources"] if r["type"] == "gcp:serviceaccount/account:Account"
           for a in (r.get("options") or {}).get("aliases", [])}
    assert gcp == {"gcp:serviceAccount/account:Account"}
