"""What lands where: every add-on and application the fleet repository delivers, and the clusters
it reaches, evaluated offline from the plan (the registrations) and the repository (the selectors).
Pure (no Pulumi): `fleet targets` and the pull-request preview (fleet.targets_diff) share it.

Who applies what (fleet.identity_data, fleet.gitops.hub):
- every cluster syncs its environment path with its Components (the engine's add-on layer where
  no hub delivers add-ons, its own folder); a Flux cluster substitutes its identity into all of it;
- a Flux hub applies each spoke's add-on layer `addons/<spoke engine>/<env>` on the spoke with the
  spoke's identity substituted (postBuild.substitute);
- an ApplicationSet generates from the cluster Secrets of the Argo CD that holds it: on an Argo CD
  hub its own and every spoke's, on any other Argo CD cluster only its own.

ApplicationSet semantics follow Argo CD's code and docs (applicationset/generators/cluster.go,
matrix.go, merge.go, generator_spec_processor.go; docs operator-manual/applicationset/
Generators-Cluster.md, Generators-Post-Selector.md): cluster generator parameters name,
nameNormalized, server, project, metadata.labels/annotations (nested with goTemplate, flat
`metadata.labels.<key>` without), `values.<key>` rendered per cluster; the selector is a Kubernetes
label selector ANDed with `argocd.argoproj.io/secret-type: cluster`; a post-selector on any
generator filters its parameter sets (with goTemplate only top-level string values count); a
matrix combines exactly two generators, the second rendered with each parameter set of the first
(goTemplate: the first's values win a shared key; fasttemplate: a shared key with two values is an
error); a merge overrides the first generator's sets with the later ones' sets of the same
mergeKeys (a duplicate key in a later generator is an error); selectors inside a nested
matrix/merge are dropped unless spec.applyNestedSelectors. Git, SCM, pull-request, plugin,
cluster-decision and flatList generators, templatePatch and template functions outside
fleet.gotemplate are reported as not evaluated, with the reason.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleet import guard
from fleet.gotemplate import NotEvaluatedError, TemplateError, render, render_tree
from fleet.identity_data import RUNTIME_KEYS, addons_path, repository_root, static_identity, sync_components
from fleet.kustomize import Build, Repository, Unknown, substitute_objects, unresolved_variables
from fleet.plan import ClusterPlan, FleetPlan

IN_CLUSTER = "https://kubernetes.default.svc"
SECRET_TYPE = "argocd.argoproj.io/secret-type"
ARGOCD_GROUP = "argoproj.io"
FLUX_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
FLUX_SYNC_NAME = "flux-system"
ROOT_APPLICATION = "fleet"
IDENTITY_CONFIGMAP = "cluster-identity"
MAX_NESTING = 6
# Registration labels that scope a target like a placement label does (CONTRACTS section 2).
SCOPE_LABELS = {"compliance": "COMPLIANCE", "env": "ENVIRONMENT", "region": "REGION", "cloud": "CLOUD"}
_RUNTIME_ANNOTATIONS = ("account", "resource_id", "oidc_issuer")


# --- what a cluster looks like to the repository -------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """One Argo CD cluster Secret as a cluster generator reads it."""

    cluster: str
    server: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


def identity_variables(cluster: ClusterPlan) -> dict[str, str]:
    """The cluster-identity data: what the plan knows, Unknown for what the cloud tells at deploy."""
    return {**static_identity(cluster), **{key: Unknown(f"<{key} of {cluster.name}>") for key in RUNTIME_KEYS}}


def registration(cluster: ClusterPlan, server: str) -> Registration:
    """The cluster Secret fleet writes for `cluster` (fleet.gitops.argocd.cluster_secret): every
    registration label, and the annotations known before the cluster exists."""
    annotations: dict[str, str] = {
        "cluster_name": cluster.name, "cloud": cluster.provider, "location": cluster.location,
        "region": cluster.region, "environment": cluster.environment,
        "fleet_repo_url": cluster.gitops.repository_url, "fleet_repo_revision": cluster.gitops.revision,
        "fleet_repo_basepath": repository_root(cluster) or ".",
        **{key: Unknown(f"<{key} of {cluster.name}>") for key in _RUNTIME_ANNOTATIONS},
    }
    return Registration(cluster.name, server, {**cluster.labels, SECRET_TYPE: "cluster"}, annotations)


def argocd_registrations(plan: FleetPlan, on: ClusterPlan) -> list[Registration]:
    """The cluster Secrets in the argocd namespace of `on`: its own (in-cluster), and on an Argo CD
    hub every spoke's (their API servers are known only once they exist)."""
    secrets = [registration(on, IN_CLUSTER)]
    if on.is_hub and on.gitops.engine == "argocd":
        secrets += [registration(s, Unknown(f"<API server of {s.name}>")) for s in plan.spokes_of(on)]
    return secrets


# --- results -------------------------------------------------------------------------------------


@dataclass
class Target:
    """One object of the fleet repository (or the sync fleet installs) and where it lands."""

    name: str
    kind: str
    engine: str
    namespace: str = ""
    clusters: set[str] = field(default_factory=set)
    delivered_on: set[str] = field(default_factory=set)  # clusters holding the object itself
    paths: dict[str, str] = field(default_factory=dict)  # cluster -> folder of the repository it gets
    applications: dict[str, list[str]] = field(default_factory=dict)  # cluster -> Application names
    placements: dict[str, dict[str, str]] = field(default_factory=dict)  # cluster -> placement of its content
    scope: dict[str, set[str]] = field(default_factory=dict)  # identity key -> values its selectors allow
    unevaluated: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace + '/' if self.namespace else ''}{self.name}"

    def note(self, reason: str) -> None:
        if reason not in self.unevaluated:
            self.unevaluated.append(reason)

    def as_json(self) -> dict[str, Any]:
        placement: dict[str, str] = {}
        for declared in self.placements.values():
            placement.update(declared)
        return {
            "name": self.name, "kind": self.kind, "engine": self.engine, "namespace": self.namespace,
            "clusters": sorted(self.clusters), "deliveredOn": sorted(self.delivered_on),
            "paths": dict(sorted(self.paths.items())),
            "applications": {k: sorted(v) for k, v in sorted(self.applications.items())},
            "placement": dict(sorted(placement.items())),
            "scope": {k: sorted(v) for k, v in sorted(self.scope.items())},
            "unevaluated": list(self.unevaluated),
        }


@dataclass(frozen=True)
class Finding:
    """Something that goes wrong where it lands: rule, the target's key, the cluster, what and why."""

    rule: str
    target: str
    cluster: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"rule": self.rule, "target": self.target, "cluster": self.cluster, "message": self.message}


@dataclass
class Report:
    stack: str
    targets: dict[str, Target] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    identities: dict[str, dict[str, str]] = field(default_factory=dict)  # cluster -> identity (known keys)

    def target(self, kind: str, name: str, engine: str, namespace: str = "") -> Target:
        candidate = Target(name, kind, engine, namespace)
        return self.targets.setdefault(candidate.key, candidate)

    def find(self, rule: str, target: Target | str, cluster: str, message: str) -> None:
        key = target.key if isinstance(target, Target) else target
        finding = Finding(rule, key, cluster, message)
        if finding not in self.findings:
            self.findings.append(finding)

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "targets": [t.as_json() for t in sorted(self.targets.values(), key=lambda t: (t.engine, t.kind, t.name))],
            "findings": [f.as_json() for f in self.findings],
        }


# --- evaluation ----------------------------------------------------------------------------------


def evaluate(stack: str, plan: FleetPlan, repository: Repository) -> Report:
    """Every target of the fleet repository for the clusters of `plan`."""
    report = Report(stack)
    evaluation = _Evaluation(plan, repository, report)
    for cluster in plan.clusters:
        report.identities[cluster.name] = {k: v for k, v in identity_variables(cluster).items()
                                           if not isinstance(v, Unknown)}
    for cluster in plan.clusters:
        evaluation.own_sync(cluster)
    for hub in plan.hubs:
        if hub.gitops.engine == "flux":
            for spoke in plan.spokes_of(hub):
                evaluation.hub_layer(hub, spoke)
    evaluation.catalogue()
    evaluation.check_application_names()
    evaluation.check_placement()
    return report


class _Evaluation:
    def __init__(self, plan: FleetPlan, repository: Repository, report: Report) -> None:
        self.plan = plan
        self.repository = repository
        self.report = report
        self.by_name = {c.name: c for c in plan.clusters}
        # Argo CD instance (cluster) -> Application name -> the targets generating it
        self.application_names: dict[str, dict[str, list[str]]] = {}
        self._secrets: dict[str, list[Registration]] = {}
        # cluster -> Flux Kustomization namespace/name -> what applies it there
        self.flux_owners: dict[str, dict[str, list[str]]] = {}

    def secrets(self, on: ClusterPlan) -> list[Registration]:
        if on.name not in self._secrets:
            self._secrets[on.name] = argocd_registrations(self.plan, on)
        return self._secrets[on.name]

    # -- entry points --

    def own_sync(self, cluster: ClusterPlan) -> None:
        """The cluster's own sync of its environment path, with its Components."""
        engine = cluster.gitops.engine
        path = cluster.gitops.environment_path
        kind, name, namespace = (("Kustomization", FLUX_SYNC_NAME, "flux-system") if engine == "flux"
                                 else ("Application", ROOT_APPLICATION, "argocd"))
        root = self.report.target(kind, name, engine, namespace)
        root.delivered_on.add(cluster.name)
        components = sync_components(cluster)
        build = self.repository.build(path, components, ignore_missing_components=True)
        if build.missing:
            self.report.find("path-missing", root, cluster.name,
                             f"the environment path {path} does not exist in the fleet repository: "
                             f"{cluster.name}'s {kind} fails")
            return
        for component in components:
            folder = posixpath.normpath(posixpath.join(path, component))
            if self.repository.exists(folder):
                piece = self.report.target("Component", folder, engine)
                piece.clusters.add(cluster.name)
                piece.delivered_on.add(cluster.name)
                piece.paths[cluster.name] = folder
        objects = build.objects
        if engine == "flux":  # postBuild.substituteFrom cluster-identity (fleet.gitops.flux.sync_patches)
            objects = substitute_objects(objects, identity_variables(cluster))
        self._reach(root, cluster.name, path, objects, build)
        self.deliver(objects, cluster, 0, root.key)

    def hub_layer(self, hub: ClusterPlan, spoke: ClusterPlan) -> None:
        """A Flux hub applies the spoke's add-on layer on the spoke with the spoke's identity."""
        path = addons_path(spoke)
        layer = self.report.target("Kustomization", f"spoke-{spoke.name}", "flux", "flux-system")
        layer.delivered_on.add(hub.name)
        build = self.repository.build(path)
        if build.missing:
            self.report.find("path-missing", layer, spoke.name,
                             f"the add-on layer {path} does not exist: {hub.name}'s registration of "
                             f"{spoke.name} fails")
            return
        objects = substitute_objects(build.objects, identity_variables(spoke))
        self._reach(layer, spoke.name, path, objects, build)
        self.deliver(objects, spoke, 0, layer.key)

    def _reach(self, target: Target, cluster: str, path: str, objects: list[dict[str, Any]], build: Build) -> None:
        for reason in build.unevaluated:
            target.note(reason)
        for error in build.errors:
            self.report.find("build-fails", target, cluster, error)
        target.paths[cluster] = path
        if objects:
            target.clusters.add(cluster)
            target.placements[cluster] = content_placement(objects)

    # -- objects applied on a cluster --

    def deliver(self, objects: Iterable[dict[str, Any]], on: ClusterPlan, depth: int, parent: str) -> None:
        """Objects `parent` applies on `on`: the GitOps objects among them are evaluated in turn."""
        if depth > MAX_NESTING:
            return
        for body in objects:
            group = str(body.get("apiVersion", "")).partition("/")[0]
            kind = body.get("kind")
            if group == FLUX_KUSTOMIZE_GROUP and kind == "Kustomization" and isinstance(body.get("metadata"), dict):
                name = f"{body['metadata'].get('namespace', '')}/{body['metadata'].get('name', '')}"
                self.flux_owners.setdefault(on.name, {}).setdefault(name, []).append(parent)
            try:
                if group == ARGOCD_GROUP and kind == "ApplicationSet":
                    self.application_set(body, on)
                elif group == ARGOCD_GROUP and kind == "Application":
                    self.application(body, on)
                elif group == FLUX_KUSTOMIZE_GROUP and kind == "Kustomization":
                    self.flux_kustomization(body, on, depth)
            except (AttributeError, TypeError, ValueError, KeyError) as error:  # a field of the wrong shape
                name = (body.get("metadata") or {}).get("name") if isinstance(body.get("metadata"), dict) else None
                self.report.find("malformed", f"{kind}/{name}", on.name,
                                 f"not the shape its API accepts ({type(error).__name__}: {str(error)[:120]}); "
                                 "the apply fails")

    def _wrong_engine(self, target: Target, on: ClusterPlan, needs: str) -> bool:
        if on.gitops.engine == needs:
            return False
        self.report.find("wrong-engine", target, on.name,
                         f"applied on {on.name}, which runs {on.gitops.engine}: no {needs} there to act on it "
                         "(the apply fails: its API is not installed)")
        return True

    def flux_kustomization(self, body: dict[str, Any], on: ClusterPlan, depth: int) -> None:
        metadata, spec = body.get("metadata") or {}, body.get("spec") or {}
        target = self.report.target("Kustomization", str(metadata.get("name", "")), "flux",
                                    str(metadata.get("namespace", "")))
        target.delivered_on.add(on.name)
        if self._wrong_engine(target, on, "flux"):
            return
        source = spec.get("sourceRef") or {}
        if source.get("name") != FLUX_SYNC_NAME or source.get("kind") not in ("GitRepository", "OCIRepository"):
            target.note(f"source {source.get('kind')}/{source.get('name')} is not the fleet repository")
            return
        if spec.get("kubeConfig"):
            target.note("applies to another cluster (spec.kubeConfig)")
            return
        path = spec.get("path", "")
        if isinstance(path, Unknown):
            target.note(f"path {path} depends on a value known only at deploy time")
            return
        unresolved = unresolved_variables(path)
        if unresolved:
            self.report.find("unsubstituted", target, on.name,
                             f"path {path} keeps ${{{unresolved[0]}}}: nothing substitutes this Kustomization's "
                             "own spec, so Flux looks for a folder with that literal name")
            return
        folder = posixpath.normpath(str(path).strip() or ".").lstrip("/")
        build = self.repository.build(folder, [str(c) for c in spec.get("components") or []],
                                      bool(spec.get("ignoreMissingComponents")))
        if build.missing:
            self.report.find("path-missing", target, on.name,
                             f"path {folder} does not exist in the fleet repository: "
                             f"the Kustomization fails on {on.name}")
            return
        objects = build.objects
        post_build = spec.get("postBuild")
        if post_build:
            objects = substitute_objects(objects, self._flux_variables(post_build, on, target))
        self._reach(target, on.name, folder, objects, build)
        self.deliver(objects, on, depth + 1, target.key)

    def _flux_variables(self, post_build: Mapping[str, Any], on: ClusterPlan, target: Target) -> dict[str, str]:
        variables: dict[str, str] = {}
        for reference in post_build.get("substituteFrom") or []:
            if reference.get("kind") == "ConfigMap" and reference.get("name") == IDENTITY_CONFIGMAP:
                variables.update(identity_variables(on))
            else:
                target.note(f"substituteFrom {reference.get('kind')}/{reference.get('name')} is not read offline")
        variables.update({str(k): str(v) for k, v in (post_build.get("substitute") or {}).items()})
        return variables

    def application(self, body: dict[str, Any], on: ClusterPlan) -> None:
        metadata = body.get("metadata") or {}
        target = self.report.target("Application", str(metadata.get("name", "")), "argocd",
                                    str(metadata.get("namespace", "")))
        target.delivered_on.add(on.name)
        if self._wrong_engine(target, on, "argocd"):
            return
        self._land(target, on, str(metadata.get("name", "")), body.get("spec") or {})

    def application_set(self, body: dict[str, Any], on: ClusterPlan) -> None:
        metadata, spec = body.get("metadata") or {}, body.get("spec") or {}
        target = self.report.target("ApplicationSet", str(metadata.get("name", "")), "argocd",
                                    str(metadata.get("namespace", "")))
        target.delivered_on.add(on.name)
        if self._wrong_engine(target, on, "argocd"):
            return
        target.scope = selector_scope(spec.get("generators") or [])
        context = _AppSetContext(bool(spec.get("goTemplate")),
                                 "missingkey=error" in (spec.get("goTemplateOptions") or []),
                                 bool(spec.get("applyNestedSelectors")),
                                 self.secrets(on))
        if spec.get("templatePatch"):
            target.note("templatePatch is not evaluated offline")
            return
        try:
            generated = []
            for generator in spec.get("generators") or []:
                template = _merge_template(generator, spec.get("template") or {})
                generated += [(params, template) for params in generate(generator, context, None, 0)]
            applications = [render_application(t, p, context) for p, t in generated]
        except NotEvaluatedError as reason:
            target.note(str(reason))
            return
        except TemplateError as error:
            self.report.find("appset-error", target, on.name,
                             f"Argo CD fails to generate on {on.name}: {error}; it creates no Application")
            return
        names = [name for name, _ in applications]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            self.report.find("duplicate-application", target, on.name,
                             f"generates Application {duplicates[0]!r} twice: Argo CD refuses the whole ApplicationSet")
            return
        for name, spec_rendered in applications:
            self._land(target, on, name, spec_rendered)

    def _land(self, target: Target, on: ClusterPlan, name: str, spec: Mapping[str, Any]) -> None:
        """An Application named `name` in `on`'s Argo CD: which cluster it deploys to, and what."""
        if isinstance(name, Unknown):
            target.note(f"Application name {name} depends on a value known only at deploy time")
        destination = spec.get("destination") or {}
        cluster = self._destination(target, on, destination)
        if cluster is None:
            return
        self.application_names.setdefault(on.name, {}).setdefault(name, []).append(target.key)
        target.clusters.add(cluster)
        target.applications.setdefault(cluster, []).append(name)
        content = self._application_content(target, on, spec)
        if content is not None:
            target.placements[cluster] = content

    def _destination(self, target: Target, on: ClusterPlan, destination: Mapping[str, Any]) -> str | None:
        server, name = destination.get("server"), destination.get("name")
        if server and name:
            self.report.find("appset-error", target, on.name,
                             "destination sets both server and name: Argo CD refuses it")
            return None
        wanted = server or name
        if isinstance(wanted, Unknown) and not wanted.startswith("<API server of "):
            target.note(f"destination {wanted} depends on a value known only at deploy time")
            return None
        for secret in self.secrets(on):
            if (server and secret.server == server) or (name and secret.cluster == name):
                return secret.cluster
        self.report.find("unknown-destination", target, on.name,
                         f"destination {wanted!r} is not a cluster registered with {on.name}'s Argo CD")
        return None

    def _application_content(self, target: Target, on: ClusterPlan, spec: Mapping[str, Any]) -> dict[str, str] | None:
        sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
        placement: dict[str, str] = {}
        for source in sources:
            if source.get("repoURL") != on.gitops.repository_url or source.get("chart") or not source.get("path"):
                continue
            path = source["path"]
            if isinstance(path, Unknown):
                target.note(f"source path {path} depends on a value known only at deploy time")
                continue
            folder = posixpath.normpath(str(path)).lstrip("/")
            kustomize = source.get("kustomize") or {}
            directory = source.get("directory") or {}
            build = self.repository.build(folder, [str(c) for c in kustomize.get("components") or []],
                                          bool(kustomize.get("ignoreMissingComponents")),
                                          recurse=bool(directory.get("recurse")))
            if build.missing:
                self.report.find("path-missing", target, on.name,
                                 f"source path {folder} does not exist in the fleet repository")
                continue
            for reason in build.unevaluated:
                target.note(reason)
            for error in build.errors:
                self.report.find("build-fails", target, on.name, error)
            placement.update(content_placement(build.objects))
        return placement

    def catalogue(self) -> None:
        """The add-on layers of the stack's environments for both engines: an object no cluster
        receives is listed too, reaching nothing (a Flux layer under an Argo CD hub, say)."""
        layers = {(addons_path(cluster, engine), engine) for cluster in self.plan.clusters
                  for engine in ("argocd", "flux")}
        for layer, engine in sorted(layers):
            for body in self.repository.build(layer).objects:
                group = str(body.get("apiVersion", "")).partition("/")[0]
                metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
                kind = body.get("kind")
                if (group, kind) in ((ARGOCD_GROUP, "ApplicationSet"), (ARGOCD_GROUP, "Application"),
                                     (FLUX_KUSTOMIZE_GROUP, "Kustomization")):
                    self.report.target(str(kind), str(metadata.get("name", "")), engine,
                                       str(metadata.get("namespace", "")))

    # -- checks over everything --

    def check_application_names(self) -> None:
        for cluster, owners_by_name in self.flux_owners.items():
            for name, owners in owners_by_name.items():
                if len(set(owners)) > 1:
                    self.report.find("duplicate-object", f"Kustomization/{name}", cluster,
                                     f"applied on {cluster} by {len(set(owners))} objects "
                                     f"({', '.join(sorted(set(owners)))}): they overwrite each other's version "
                                     "of it (one namespace, one name)")
        for instance, names in self.application_names.items():
            for name, owners in names.items():
                if len(owners) > 1:
                    self.report.find("duplicate-application", " and ".join(sorted(owners)), instance,
                                     f"Application {name!r} is generated by {len(owners)} objects in {instance}'s "
                                     "Argo CD: they overwrite each other (one namespace, one name)")

    def check_placement(self) -> None:
        """Content placed for a compliance, environment, region or cloud reaching a cluster whose
        identity differs: what the identity guard refuses at admission, found before merge."""
        for target in self.report.targets.values():
            for cluster, declared in sorted(target.placements.items()):
                wrong = guard.misplacement(declared, self.report.identities.get(cluster, {}))
                if wrong:
                    self.report.find("misplaced", target, cluster, "; ".join(wrong))


def content_placement(objects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The placement labels declared by a set of objects (their own labels and pod templates')."""
    declared: dict[str, str] = {}
    for body in objects:
        metadata = body.get("metadata") or {}
        declared.update(guard.placement(metadata.get("labels") if isinstance(metadata, Mapping) else None))
        spec = body.get("spec") if isinstance(body.get("spec"), Mapping) else {}
        for template in (spec.get("template"), ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")):
            if isinstance(template, Mapping):
                declared.update(guard.placement((template.get("metadata") or {}).get("labels")))
    return declared


# --- ApplicationSet generators --------------------------------------------------------------------


@dataclass(frozen=True)
class _AppSetContext:
    go_template: bool
    missing_error: bool
    apply_nested_selectors: bool
    secrets: Sequence[Registration]


def generate(generator: Mapping[str, Any], context: _AppSetContext, previous: Mapping[str, Any] | None,
             depth: int) -> list[dict[str, Any]]:
    """The parameter sets of one generator (a matrix's second child rendered with `previous`)."""
    if previous:
        generator = render_tree(dict(generator), previous, context.go_template, context.missing_error)
    kinds = [k for k in generator if k not in ("selector", "template")]
    if len(kinds) != 1:
        raise TemplateError(f"a generator names exactly one kind, got {kinds or 'none'}")
    kind = kinds[0]
    body = generator[kind] or {}
    if kind == "clusters":
        params = _cluster_params(body, context)
    elif kind == "list":
        params = _list_params(body, context)
    elif kind in ("matrix", "merge"):
        if depth >= 2:
            raise TemplateError(f"{kind} nested more than one level: Argo CD refuses it")
        children = [dict(child) for child in body.get("generators") or []]
        if depth >= 1 and not context.apply_nested_selectors:
            children = [{k: v for k, v in child.items() if k != "selector"} for child in children]
        params = (_matrix(children, context, depth) if kind == "matrix"
                  else _merge(children, body.get("mergeKeys") or [], context, depth))
    else:
        raise NotEvaluatedError(f"the {kind} generator reads sources fleet does not have offline")
    selector = generator.get("selector")
    if selector:
        params = [p for p in params if selector_matches(selector, _selectable(p, context.go_template))]
    return params


def _cluster_params(body: Mapping[str, Any], context: _AppSetContext) -> list[dict[str, Any]]:
    if body.get("flatList"):
        raise NotEvaluatedError("cluster generator flatList renders one Application from all clusters")
    selector = body.get("selector") or {}
    result = []
    for secret in context.secrets:
        if not selector_matches(selector, secret.labels):
            continue
        normalized = re.sub(r"[^-a-z0-9.]", "-", secret.cluster.lower())[:253].strip("-.")
        if context.go_template:
            params: dict[str, Any] = {"name": secret.cluster, "nameNormalized": normalized, "server": secret.server,
                                      "project": "", "metadata": {"labels": dict(secret.labels),
                                                                  "annotations": dict(secret.annotations)}}
        else:
            params = {"name": secret.cluster, "nameNormalized": normalized, "server": secret.server, "project": "",
                      **{f"metadata.labels.{k}": v for k, v in secret.labels.items()},
                      **{f"metadata.annotations.{k}": v for k, v in secret.annotations.items()}}
        values = {str(k): render(str(v), params, context.go_template, context.missing_error)
                  for k, v in (body.get("values") or {}).items()}
        if context.go_template:
            params["values"] = values
        else:
            params.update({f"values.{k}": v for k, v in values.items()})
        result.append(params)
    return result


def _list_params(body: Mapping[str, Any], context: _AppSetContext) -> list[dict[str, Any]]:
    if body.get("elementsYaml"):
        raise NotEvaluatedError("list generator elementsYaml is not evaluated offline")
    elements = body.get("elements") or []
    if context.go_template:
        return [dict(e) for e in elements if isinstance(e, Mapping)]
    return [_flatten(e) for e in elements if isinstance(e, Mapping)]


def _flatten(element: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in element.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return flat


def _matrix(children: list[dict[str, Any]], context: _AppSetContext, depth: int) -> list[dict[str, Any]]:
    if len(children) != 2:
        raise TemplateError(f"a matrix combines exactly two generators, got {len(children)}")
    combined = []
    for first in generate(children[0], context, None, depth + 1):
        for second in generate(children[1], context, first, depth + 1):
            if context.go_template:
                combined.append(_fill(dict(second), first))
            else:
                clash = [k for k in first if k in second and first[k] != second[k]]
                if clash:
                    raise TemplateError(f"matrix: both generators set {clash[0]!r} with different values")
                combined.append({**second, **first})
    return combined


def _fill(base: dict[str, Any], winner: Mapping[str, Any]) -> dict[str, Any]:
    """mergo.Merge(dst=winner, src=base) without override: winner's values stay, base fills the gaps."""
    result = dict(winner)
    for key, value in base.items():
        if key not in result or result[key] in (None, ""):
            result[key] = value
        elif isinstance(result[key], Mapping) and isinstance(value, Mapping):
            result[key] = _fill(dict(value), result[key])
    return result


def _override(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = _override(result[key], value)
        elif value not in (None, ""):
            result[key] = value
    return result


def _merge(children: list[dict[str, Any]], keys: Sequence[str], context: _AppSetContext,
           depth: int) -> list[dict[str, Any]]:
    if len(children) < 2:
        raise TemplateError("a merge needs at least two generators")
    if not keys:
        raise TemplateError("a merge needs mergeKeys")
    sets = [generate(child, context, None, depth + 1) for child in children]

    def key_of(params: Mapping[str, Any]) -> str:
        return json.dumps({k: params.get(k) for k in sorted(set(keys))}, sort_keys=True, default=str)

    merged = [dict(p) for p in sets[0]]
    for later in sets[1:]:
        by_key: dict[str, Mapping[str, Any]] = {}
        for params in later:
            if key_of(params) in by_key:
                raise TemplateError(f"merge: parameter sets not unique by mergeKeys {list(keys)}")
            by_key[key_of(params)] = params
        for index, params in enumerate(merged):
            match = by_key.get(key_of(params))
            if match is not None:
                merged[index] = _override(params, match) if context.go_template else {**params, **match}
    return merged


def _selectable(params: Mapping[str, Any], go_template: bool) -> dict[str, str]:
    return {k: v for k, v in params.items() if isinstance(v, str)}


def _merge_template(generator: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """A generator's own template wins over spec.template field by field (mergo.Merge, no override)."""
    kinds = [k for k in generator if k not in ("selector", "template")]
    body = generator.get(kinds[0]) if kinds else None
    own = body.get("template") if isinstance(body, Mapping) else None
    return _fill(dict(template), own) if own else dict(template)


def render_application(template: Mapping[str, Any], params: Mapping[str, Any],
                       context: _AppSetContext) -> tuple[str, dict[str, Any]]:
    """The generated Application's name and the parts of its spec targeting reads."""
    metadata, spec = template.get("metadata") or {}, template.get("spec") or {}
    name = render(str(metadata.get("name", "")), params, context.go_template, context.missing_error)
    wanted = {"destination": spec.get("destination") or {}}
    if spec.get("source"):
        wanted["source"] = spec["source"]
    if spec.get("sources"):
        wanted["sources"] = spec["sources"]
    rendered = render_tree(wanted, params, context.go_template, context.missing_error)
    if not name:
        raise TemplateError("the template renders an Application without a name")
    return name, rendered


# --- label selectors ---------------------------------------------------------------------------


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics (apimachinery LabelSelectorAsSelector): matchLabels and
    every matchExpressions requirement must hold; In: the key is set to one of values; NotIn: the
    key is absent or set to none of them; Exists / DoesNotExist. An empty selector matches all."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator = requirement.get("key"), requirement.get("operator")
        values = [str(v) for v in requirement.get("values") or []]
        if operator in ("In", "NotIn") and not values:
            raise TemplateError(f"selector: {operator} on {key!r} needs values")
        if operator in ("Exists", "DoesNotExist") and values:
            raise TemplateError(f"selector: {operator} on {key!r} takes no values")
        if operator == "In":
            holds = key in labels and labels[key] in values
        elif operator == "NotIn":
            holds = key not in labels or labels[key] not in values
        elif operator == "Exists":
            holds = key in labels
        elif operator == "DoesNotExist":
            holds = key not in labels
        else:
            raise TemplateError(f"selector: unknown operator {operator!r}")
        if not holds:
            return False
    return True


def selector_scope(generators: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Identity keys every top-level cluster generator pins to a set of values (matchLabels, In):
    what the ApplicationSet was written to reach, kept to judge a later change."""
    scopes: list[dict[str, set[str]]] = []
    for generator in generators:
        clusters = generator.get("clusters")
        if not isinstance(clusters, Mapping):
            return {}
        selector = clusters.get("selector") or {}
        scope: dict[str, set[str]] = {}
        for label, value in (selector.get("matchLabels") or {}).items():
            if label in SCOPE_LABELS:
                scope[SCOPE_LABELS[label]] = {str(value)}
        for requirement in selector.get("matchExpressions") or []:
            if requirement.get("key") in SCOPE_LABELS and requirement.get("operator") == "In":
                scope[SCOPE_LABELS[requirement["key"]]] = {str(v) for v in requirement.get("values") or []}
        scopes.append(scope)
    if not scopes:
        return {}
    common = set.intersection(*(set(s) for s in scopes))
    return {key: set().union(*(s[key] for s in scopes)) for key in common}
