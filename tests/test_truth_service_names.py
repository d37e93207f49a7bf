"""The bundles' documented services are what pmortem names (issue 12): an entity's service is its
pod's Deployment, the pod name minus its ReplicaSet hash and suffix, so the ingress pod
`ingress-nginx-controller-7c9f8d6b5-p4z8x` is service `ingress-nginx-controller`, as the bundles'
expected.json and READMEs say. Exact equality, per source."""

from __future__ import annotations

import json
import re

import pytest
from conftest import SAMPLES, require


def documented(bundle: str) -> dict[str, tuple[str, str]]:
    """file name -> (pod, service), from the bundle's expected.json."""
    exp = json.loads(require(SAMPLES / bundle / "expected.json").read_text())
    if "file_to_entity" in exp:
        return {f: (v["entity"], v["service"]) for f, v in exp["file_to_entity"].items()}
    return {v["file"].rsplit("/", 1)[-1] if not v["file"].endswith("/0.log") else v["file"]: (pod, v["service"])
            for pod, v in exp["entities"].items()}


@pytest.mark.parametrize("bundle", ["decoy", "renamed"])
def test_sources_carry_the_documented_service(cli, bundle):
    cli.ok("ingest", str(SAMPLES / bundle), "-q")
    want = documented(bundle)
    got = {s["path"]: (s["pod"], s["service"]) for s in cli.sources()}
    for name, (pod, service) in want.items():
        path = next(p for p in got if p.endswith(name))
        assert got[path] == (pod, service), (bundle, name, got[path], (pod, service))
    readme = (SAMPLES / bundle / "README.md").read_text()
    # the README says the same: no ingress service name other than the Deployment's
    assert not re.search(r"ingress-nginx(?!-controller)`|\(ingress-nginx\)", readme)
