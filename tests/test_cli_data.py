"""Sample `pulumi stack output kubeconfigs --json` output (two exec-plugin kubeconfigs)."""

import yaml

from fleet.clouds.kubeconfig import ExecPlugin, kubeconfig_document

KUBECONFIGS = {
    name: yaml.safe_dump(kubeconfig_document(name, f"https://{name}.example", "Q0E=", ExecPlugin("aws")))
    for name in ("b", "a")
}
