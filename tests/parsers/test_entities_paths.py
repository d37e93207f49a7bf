"""Pod names in how people save files (parsers/entities.py): prefixes, suffixes, directories."""

from __future__ import annotations

import pytest
from pmortem.parsers.entities import file_entity, path_labels, source_labels

POD = "reports-5d8c7b9f6-v7n2x"


@pytest.mark.parametrize(
    "path",
    [
        f"{POD}.log",
        f"01_{POD}.log",
        f"02-{POD}.log",
        f"2022-11-15_{POD}.log",
        f"20221115T0820-{POD}.log",
        f"{POD}.previous.log",
        f"{POD}-old.log",
        f"{POD}.log.1",
        f"{POD}-20221115.log.gz",
        f"logs/{POD}/app.log",
        f"/tmp/incident/{POD}.txt",
    ],
)
def test_a_pod_name_anywhere_in_the_path(path):
    assert path_labels(path)["pod"] == (POD, "path")


def test_pod_and_container_as_kubectl_users_save_them():
    assert path_labels(f"03_{POD}_server.log") == {"pod": (POD, "path"), "container": ("server", "path")}


@pytest.mark.parametrize(
    ("path", "entity", "service"),
    [
        ("reports-old.log", "reports-old", "reports"),  # hand-renamed: its own entity, its service without `-old`
        ("01_translation-service.log.gz", "translation-service", "translation-service"),
        ("export.log", "export", None),  # a generic name is no service
        ("a/app.log", "a/app", None),  # two `app.log`s in two directories are two entities
        ("b/app.log.1", "b/app", None),
        # a docker json-file saved without its config.v2.json: the short container id
        (f"containers/{'a3f9c1d2e4b5' * 5}abcd/{'a3f9c1d2e4b5' * 5}abcd-json.log", "a3f9c1d2e4b5", None),
        (f"{'7e21b0c9d8f6' * 5}1234-json.log.1", "7e21b0c9d8f6", None),
    ],
)
def test_a_file_without_a_pod_is_its_own_entity(path, entity, service):
    assert file_entity(path) == entity
    labels = source_labels(path, {}, {})
    assert labels["pod"] == (entity, "file")
    assert labels.get("service", (None,))[0] == service


def test_flags_and_config_outrank_the_files_own_name():
    labels = source_labels("01_x.log", {}, {"pod": ("given-pod", "flag")})
    assert labels["pod"] == ("given-pod", "flag")


def test_tool_directories_are_not_pods():
    assert "pod" not in path_labels("/tmp/pytest-115/saved/01_crashy.log")
    assert file_entity("/tmp/pytest-115/saved/01_crashy.log") == "crashy"
