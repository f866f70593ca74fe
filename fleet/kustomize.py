"""A kustomize build of the fleet repository, as far as targeting needs it, and Flux's
post-build substitution. Pure and offline: fleet.targets reads with it what each cluster is sent.

Modelled (kustomize, https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/):
`resources` (files and folders), `components` (kind Component, applied in order after the
resources), `patches` / `patchesStrategicMerge` / `patchesJson6902` (custom resources have no
OpenAPI schema in kustomize, so a strategic-merge patch on them merges maps and replaces lists as
a JSON merge patch does, RFC 7386), `namespace`, `commonLabels`, `labels`, `commonAnnotations`.
A folder without a kustomization file is every manifest in it (Flux: subfolders too, as
kustomize-controller generates the kustomization; Argo CD: the folder only, unless
directory.recurse). Anything else that can change the objects (generators, replacements,
transformers, helmCharts, remote resources, `$patch` directives) is reported as a reason the
build is not evaluated, never guessed.

Flux substitution (kustomize-controller postBuild, https://fluxcd.io/flux/components/kustomize/kustomizations/#post-build-variable-substitution):
`${VAR}`, `${VAR:=default}` and `${VAR:-default}` (the default when VAR is unset or empty, as
fluxcd/pkg/envsubst does), `$${VAR}` left as `${VAR}`, an undefined VAR without default is
empty (the controller's default, non-strict mode); objects annotated or labelled
`kustomize.toolkit.fluxcd.io/substitute: disabled` are left alone.
"""

from __future__ import annotations

import copy
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Fields of a kustomization that change objects in ways this build does not model.
UNMODELLED = ("configMapGenerator", "secretGenerator", "generators", "transformers", "validators",
              "replacements", "helmCharts", "helmGlobals", "replicas", "images", "namePrefix", "nameSuffix",
              "openapi", "crds", "vars")
MAX_DEPTH = 20


class Unknown(str):
    """A value only known once the cluster exists (a runtime identity key, a cloud server URL)."""

    __slots__ = ()


@dataclass
class Build:
    """The objects a folder builds to, and why the build may be incomplete."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    unevaluated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what makes kustomize itself refuse the build
    missing: bool = False  # the folder does not exist (the engine fails: path not found)


class Repository:
    """A checkout of the fleet repository; paths are relative to its root, '/'-separated."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._documents: dict[str, list[Any]] = {}
        self._builds: dict[tuple[Any, ...], Build] = {}

    def exists(self, path: str) -> bool:
        return self._path(path).is_dir()

    def _path(self, path: str) -> Path:
        clean = posixpath.normpath(path.strip("/") or ".")
        return self.root / clean

    def documents(self, path: str) -> list[Any]:
        if path not in self._documents:
            try:
                text = self._path(path).read_text()
                self._documents[path] = [d for d in yaml.safe_load_all(text) if d is not None]
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
                raise BuildError(f"{path}: cannot be read as YAML ({str(error).splitlines()[0][:120]})") from None
        return self._documents[path]

    def build(self, path: str, components: Sequence[str] = (), ignore_missing_components: bool = True,
              recurse: bool = True) -> Build:
        """kustomize build of `path` (relative to the repository root) with extra Components
        (relative to `path`), as Flux's spec.components / Argo CD's kustomize.components add them.
        Built once per argument set: the objects are shared, callers never change them in place."""
        key = (path, tuple(components), ignore_missing_components, recurse)
        if key not in self._builds:
            self._builds[key] = self._build_once(path, components, ignore_missing_components, recurse)
        cached = self._builds[key]
        return Build(list(cached.objects), list(cached.unevaluated), list(cached.errors), cached.missing)

    def _build_once(self, path: str, components: Sequence[str], ignore_missing_components: bool,
                    recurse: bool) -> Build:
        result = Build()
        if not self.exists(path):
            result.missing = True
            return result
        try:
            objects = self._build(posixpath.normpath(path), result, 0, recurse)
            for component in components:
                folder = posixpath.normpath(posixpath.join(path, component))
                if not self.exists(folder):
                    if not ignore_missing_components:
                        result.unevaluated.append(f"{folder}: component missing")
                    continue
                objects = self._apply(folder, objects, result, 0)
        except BuildError as error:
            result.unevaluated.append(str(error))
            return result
        except (AttributeError, TypeError, ValueError, KeyError, IndexError, RecursionError) as error:
            result.unevaluated.append(f"{path}: a kustomization or object of an unexpected shape "
                                      f"({type(error).__name__}: {str(error)[:120]})")
            return result
        result.objects = objects
        return result

    # --- kustomize ----------------------------------------------------------------------------

    def _kustomization(self, folder: str) -> tuple[str, dict[str, Any]] | None:
        for name in KUSTOMIZATION_FILES:
            candidate = posixpath.join(folder, name)
            if self._path(candidate).is_file():
                documents = self.documents(candidate)
                if len(documents) != 1 or not isinstance(documents[0], dict):
                    raise BuildError(f"{candidate}: expected one kustomization document")
                return candidate, documents[0]
        return None

    def _build(self, folder: str, result: Build, depth: int, recurse: bool) -> list[dict[str, Any]]:
        if depth > MAX_DEPTH:
            raise BuildError(f"{folder}: resources nested more than {MAX_DEPTH} deep (a cycle?)")
        found = self._kustomization(folder)
        if found is None:
            return self._plain_folder(folder, recurse)
        source, kustomization = found
        if kustomization.get("kind") == "Component":
            return self._apply(folder, [], result, depth)
        objects: list[dict[str, Any]] = []
        for entry in kustomization.get("resources") or []:
            objects += self._resource(folder, str(entry), result, depth)
        for component in kustomization.get("components") or []:
            folder_of = posixpath.normpath(posixpath.join(folder, str(component)))
            objects = self._apply(folder_of, objects, result, depth + 1)
        _check_unique(source, objects, result)
        return self._transform(source, kustomization, objects, result)

    def _apply(self, folder: str, objects: list[dict[str, Any]], result: Build, depth: int) -> list[dict[str, Any]]:
        """A Component: its resources join `objects`, then its patches and transformers apply to all."""
        found = self._kustomization(folder)
        if found is None:
            raise BuildError(f"{folder}: component without kustomization.yaml")
        source, component = found
        added: list[dict[str, Any]] = []
        for entry in component.get("resources") or []:
            added += self._resource(folder, str(entry), result, depth + 1)
        _check_unique(source, objects + added, result)
        return self._transform(source, component, objects + added, result)

    def _resource(self, folder: str, entry: str, result: Build, depth: int) -> list[dict[str, Any]]:
        if "://" in entry or entry.startswith("git@") or entry.startswith("github.com/"):
            raise BuildError(f"{folder}: remote resource {entry!r} is not read offline")
        path = posixpath.normpath(posixpath.join(folder, entry))
        if self._path(path).is_dir():
            return self._build(path, result, depth + 1, True)
        if not self._path(path).is_file():
            raise BuildError(f"{folder}: resource {entry!r} does not exist")
        return [copy.deepcopy(d) for d in self.documents(path) if isinstance(d, dict)]

    def _plain_folder(self, folder: str, recurse: bool) -> list[dict[str, Any]]:
        pattern = "**/*" if recurse else "*"
        base = self._path(folder)
        objects: list[dict[str, Any]] = []
        for file in sorted(base.glob(pattern)):
            if file.is_file() and file.suffix in (".yaml", ".yml"):
                relative = posixpath.join(folder, file.relative_to(base).as_posix())
                objects += [copy.deepcopy(d) for d in self.documents(relative)
                            if isinstance(d, dict) and "kind" in d and "apiVersion" in d]
        return objects

    def _transform(self, source: str, kustomization: Mapping[str, Any], objects: list[dict[str, Any]],
                   result: Build) -> list[dict[str, Any]]:
        unmodelled = [key for key in UNMODELLED if kustomization.get(key)]
        if unmodelled:
            result.unevaluated.append(f"{source}: {', '.join(unmodelled)} not evaluated offline")
        for entry in kustomization.get("patchesStrategicMerge") or []:
            objects = self._patch(source, {"path": entry} if isinstance(entry, str) else {"patch": entry}, objects)
        for entry in kustomization.get("patchesJson6902") or []:
            objects = self._patch(source, entry, objects)
        for entry in kustomization.get("patches") or []:
            objects = self._patch(source, entry, objects)
        if kustomization.get("namespace"):
            for body in objects:
                body.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
        labels = dict(kustomization.get("commonLabels") or {})
        for entry in kustomization.get("labels") or []:
            labels.update(entry.get("pairs") or {})
        for body in objects:
            metadata = body.setdefault("metadata", {})
            if labels:
                metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
            if kustomization.get("commonAnnotations"):
                metadata["annotations"] = {**(metadata.get("annotations") or {}), **kustomization["commonAnnotations"]}
        return objects

    def _patch(self, source: str, entry: Mapping[str, Any], objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        folder = posixpath.dirname(source)
        if "path" in entry:
            documents = self.documents(posixpath.normpath(posixpath.join(folder, str(entry["path"]))))
        else:
            text = entry.get("patch")
            documents = [d for d in yaml.safe_load_all(text) if d is not None] if isinstance(text, str) else [text]
        target = entry.get("target")
        for document in documents:
            if isinstance(document, list):  # JSON 6902 operations
                if not target:
                    raise BuildError(f"{source}: a JSON 6902 patch needs a target")
                objects = [json6902(source, body, document) if _targeted(body, target, source) else body
                           for body in objects]
            elif isinstance(document, dict):
                if _has_directive(document):
                    raise BuildError(f"{source}: $patch directives are not evaluated offline")
                match = target or _identity(document)
                objects = [merge_patch(body, _patch_body(document)) if _targeted(body, match, source) else body
                           for body in objects]
        return objects


def _check_unique(source: str, objects: list[dict[str, Any]], result: Build) -> None:
    """kustomize refuses two resources with the same id ("may not add resource with an already
    registered id"): group, kind, namespace and name."""
    seen: set[tuple[str, ...]] = set()
    for body in objects:
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        ident = (str(body.get("apiVersion", "")).rpartition("/")[0], str(body.get("kind")),
                 str(metadata.get("namespace", "")), str(metadata.get("name", "")))
        if ident in seen:
            message = f"{source}: {ident[1]} {ident[3]!r} twice: kustomize refuses to build it"
            if message not in result.errors:
                result.errors.append(message)
        seen.add(ident)


class BuildError(Exception):
    """A build that cannot be evaluated offline (the reason is the message)."""


def _identity(document: Mapping[str, Any]) -> dict[str, str]:
    metadata = document.get("metadata") or {}
    identity = {"kind": str(document.get("kind", "")), "name": str(metadata.get("name", ""))}
    if metadata.get("namespace"):
        identity["namespace"] = str(metadata["namespace"])
    return identity


def _patch_body(document: Mapping[str, Any]) -> dict[str, Any]:
    """A strategic-merge patch minus what identifies its target."""
    body = copy.deepcopy(dict(document))
    body.pop("apiVersion", None)
    body.pop("kind", None)
    metadata = dict(body.get("metadata") or {})
    for key in ("name", "namespace"):
        metadata.pop(key, None)
    if metadata:
        body["metadata"] = metadata
    else:
        body.pop("metadata", None)
    return body


def _has_directive(value: Any) -> bool:
    if isinstance(value, dict):
        return any(str(k).startswith("$") for k in value) or any(_has_directive(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_directive(v) for v in value)
    return False


def _targeted(body: Mapping[str, Any], target: Mapping[str, Any], source: str) -> bool:
    """Whether a patch target selects `body` (kind, name and namespace are regexes in kustomize)."""
    if target.get("labelSelector") or target.get("annotationSelector"):
        raise BuildError(f"{source}: patch targets by label or annotation selector are not evaluated offline")
    metadata = body.get("metadata") or {}
    group, _, version = str(body.get("apiVersion", "")).rpartition("/")
    actual = {"kind": body.get("kind"), "name": metadata.get("name"), "namespace": metadata.get("namespace"),
              "group": group, "version": version}
    for key in ("kind", "name", "namespace", "group", "version"):
        wanted = target.get(key)
        if wanted is not None and not re.fullmatch(str(wanted), str(actual[key] or "")):
            return False
    return True


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def json6902(source: str, body: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    """add / replace / remove of RFC 6902 (the operations kustomize users write); others refused."""
    document = copy.deepcopy(body)
    for operation in operations:
        op, path = operation.get("op"), str(operation.get("path", ""))
        if op not in ("add", "replace", "remove"):
            raise BuildError(f"{source}: JSON 6902 operation {op!r} is not evaluated offline")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        if not parts:
            raise BuildError(f"{source}: JSON 6902 path {path!r} names no field")
        parent: Any = document
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = parts[-1]
        try:
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if op == "add":
                    parent.insert(index, copy.deepcopy(operation.get("value")))
                elif op == "replace":
                    parent[index] = copy.deepcopy(operation.get("value"))
                else:
                    del parent[index]
            elif op == "remove":
                del parent[last]
            else:
                parent[last] = copy.deepcopy(operation.get("value"))
        except (KeyError, IndexError, ValueError, TypeError):
            raise BuildError(f"{source}: JSON 6902 {op} {path}: no such field") from None
    return document


# --- Flux post-build substitution ---------------------------------------------------------------

_VARIABLE = re.compile(r"\$(\$?)\{([^}:]*)(?::([=-])([^}]*))?\}")
DISABLED = "kustomize.toolkit.fluxcd.io/substitute"


def substitute(value: Any, variables: Mapping[str, str]) -> Any:
    """Flux's substitution in every string of `value`; a string needing an Unknown value becomes
    Unknown (its text shows which variable)."""
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if not isinstance(value, str):
        return value
    unknown: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(1):  # $${VAR}: escaped
            return match.group(0)[1:]
        name, operator, default = match.group(2), match.group(3), match.group(4)
        current = variables.get(name, "")
        if isinstance(current, Unknown):
            unknown.append(name)
            return match.group(0)
        if operator and current == "":
            return default or ""
        return current

    text = _VARIABLE.sub(replace, value)
    return Unknown(text) if unknown else text


def substitute_objects(objects: list[dict[str, Any]], variables: Mapping[str, str]) -> list[dict[str, Any]]:
    return [body if _substitution_disabled(body) else substitute(body, variables) for body in objects]


def _substitution_disabled(body: Mapping[str, Any]) -> bool:
    metadata = body.get("metadata") or {}
    return any((metadata.get(part) or {}).get(DISABLED) == "disabled" for part in ("annotations", "labels"))


def unresolved_variables(value: Any) -> list[str]:
    """`${VAR}` references left in a string (no one substituted them)."""
    return [m.group(2) for m in _VARIABLE.finditer(value) if not m.group(1)] if isinstance(value, str) else []


