"""Render a Kustomize overlay of infra/k8s without kubectl: the subset these manifests use —
``resources`` (files and directories with their own kustomization.yaml), ``labels`` (``pairs``
added to every object's ``metadata.labels``; ``includeSelectors: false``) and ``patches``
(``path`` of a strategic-merge patch: objects matched by kind and name, mappings merged,
containers and other named lists merged by ``name``). Anything else in a kustomization.yaml
raises ``ValueError``, so the renderer never silently differs from ``kubectl kustomize``.

    python infra/k8s/kustomize.py infra/k8s/overlays/kafka      # prints the objects as YAML
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "labels", "patches"}


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge of ``patch`` into ``base`` (mappings by key, named lists by name)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (isinstance(base, list) and isinstance(patch, list)
            and all(isinstance(i, dict) and "name" in i for i in base + patch)):
        out_list = [copy.deepcopy(i) for i in base]
        for item in patch:
            index = next((n for n, i in enumerate(out_list) if i["name"] == item["name"]), None)
            if index is None:
                out_list.append(copy.deepcopy(item))
            else:
                out_list[index] = _merge(out_list[index], item)
        return out_list
    return copy.deepcopy(patch)


def render(directory: Path) -> list[dict[str, Any]]:
    """The objects the kustomization in ``directory`` builds, in resource order."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise ValueError(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    objects: list[dict[str, Any]] = []
    for resource in spec.get("resources", []):
        path = directory / resource
        if path.is_dir():
            objects.extend(render(path))
        else:
            objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    for patch_ref in spec.get("patches", []):
        if set(patch_ref) != {"path"}:
            raise ValueError(f"{directory}: only patches with a path are supported")
        for patch in yaml.safe_load_all((directory / patch_ref["path"]).read_text()):
            key = (patch["kind"], patch["metadata"]["name"])
            matches = [i for i, o in enumerate(objects) if (o["kind"], o["metadata"]["name"]) == key]
            if not matches:
                raise ValueError(f"{directory}: patch {key} matches no object")
            for index in matches:
                objects[index] = _merge(objects[index], patch)
    for label_set in spec.get("labels", []):
        if label_set.get("includeSelectors", False) or label_set.get("includeTemplates", False):
            raise ValueError(f"{directory}: only labels with includeSelectors/includeTemplates false are supported")
        for obj in objects:
            metadata = obj.setdefault("metadata", {})
            metadata["labels"] = {**metadata.get("labels", {}), **label_set["pairs"]}
    return objects


if __name__ == "__main__":
    print(yaml.safe_dump_all(render(Path(sys.argv[1])), sort_keys=False), end="")
