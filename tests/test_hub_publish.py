"""Publishing Arrow tables with their card to a Hub-compatible server, through the real clients."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from datagen.errors import InvalidName, UsageError
from datagen_plugins.hub.api import parquet_bytes, publish_table
from datagen_plugins.hub.card import CardFacts
from datagen_plugins.hub.errors import HubAuthError, HubError

if TYPE_CHECKING:
    from hub_fixtures import HubEnv

# The Hub client itself streams uploads the way its HTTP library deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

pytest_plugins = ["hub_fixtures"]  # the `hub` fixture

REPO = "acme/critiques"


def rows(count: int, start: int = 0) -> list[dict]:
    return [{"id": f"r{i:03d}", "query": f"question {i}", "score": i % 10}
            for i in range(start, start + count)]


def version(number: int, records: list[dict], **extra) -> tuple[pa.Table, CardFacts]:
    facts = CardFacts(dataset="critique-sft", version=number, rows=len(records), failures=1,
                      recipe="critique-sft", generator="multicritique", generator_version="0.1.0",
                      models=[{"spec": "embedded", "model": "SmolLM2-135M",
                               "license": "Apache-2.0"}],
                      inputs=[{"kind": "file", "path": "/home/me/seeds.jsonl", "sha256": "ab12"}],
                      command="datagen build critique-sft --limit 3",
                      citation="@article{multicritique, title={MultiCritique}}", **extra)
    return pa.Table.from_pylist(records), facts


def tags(hub: HubEnv, repo: str = REPO) -> dict[str, str]:
    return dict(hub.server.repos[("datasets", repo)].tags)


def commit_count(hub: HubEnv, repo: str = REPO) -> int:
    return len(hub.server.repos[("datasets", repo)].commits)


def test_versions_load_by_tag_and_republishing_changes_nothing(hub: HubEnv):
    first = publish_table(*version(1, rows(3)), REPO)
    assert first.changed and first.tag == "v1"
    second = publish_table(*version(2, rows(5, start=1)), REPO)
    assert second.changed and second.commit != first.commit
    assert tags(hub) == {"v1": first.commit, "v2": second.commit}

    assert hub.load_rows(REPO, "v1") == rows(3)
    assert hub.load_rows(REPO, "v2") == rows(5, start=1)
    assert hub.load_rows(REPO, "main") == rows(5, start=1)

    commits = commit_count(hub)
    again = publish_table(*version(1, rows(3)), REPO)
    assert not again.changed and again.commit == first.commit
    assert commit_count(hub) == commits
    assert tags(hub) == {"v1": first.commit, "v2": second.commit}


def test_card_has_hub_metadata_lineage_and_no_token(hub: HubEnv):
    from huggingface_hub import DatasetCard

    publish_table(*version(1, rows(3)), REPO)
    card = DatasetCard.load(REPO, repo_type="dataset")
    data = card.data.to_dict()
    assert data["license"] == "apache-2.0"
    assert data["size_categories"] == ["n<1K"]
    assert data["task_categories"] == ["text-generation"]
    assert data["configs"] == [{"config_name": "default",
                                "data_files": [{"split": "train",
                                                "path": "data/train-00000-of-00001.parquet"}]}]
    text = card.text
    for expected in ("`critique-sft`", "`multicritique` 0.1.0", "SmolLM2-135M", "Apache-2.0",
                     "file `seeds.jsonl` (sha256 ab12)", "Rows: 3", "Failures", ": 1",
                     "datagen build critique-sft --limit 3", "@article{multicritique",
                     'revision="v1"'):
        assert expected in text, expected
    assert "/home/me" not in text
    assert hub.token not in card.content


def test_license_and_description_override(hub: HubEnv):
    from huggingface_hub import DatasetCard

    publish_table(*version(1, rows(2), license="CC-BY-4.0", description="Critiques of answers."),
                  REPO)
    card = DatasetCard.load(REPO, repo_type="dataset")
    assert card.data.license == "cc-by-4.0"
    assert "Critiques of answers." in card.text


def test_unknown_license_is_refused_before_any_upload(hub: HubEnv):
    with pytest.raises(UsageError, match="'not-a-license' is not a Hub license id"):
        publish_table(*version(1, rows(2), license="not-a-license"), REPO)
    assert hub.server.requests == []


def test_private_repo(hub: HubEnv):
    publish_table(*version(1, rows(2)), REPO, private=True)
    assert hub.server.repos[("datasets", REPO)].private
    assert hub.load_rows(REPO, "v1") == rows(2)  # the token in the environment can read it


@pytest.mark.parametrize("bad", ["critiques", "a/b/c", "acme/bad name", "acme/x--y", "acme/x..y",
                                 "/critiques", "acme/", "acme/repo.git"])
def test_malformed_repo_ids(hub: HubEnv, bad: str):
    with pytest.raises(InvalidName, match="is not ORG/NAME"):
        publish_table(*version(1, rows(2)), bad)
    assert hub.server.requests == []


def test_missing_token(hub: HubEnv, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubAuthError, match="no Hub token: set HF_TOKEN"):
        publish_table(*version(1, rows(2)), REPO)
    assert hub.server.requests == []


def test_rejected_token_then_valid_token(hub: HubEnv, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token")
    with pytest.raises(HubAuthError, match="HTTP 401") as raised:
        publish_table(*version(1, rows(2)), REPO)
    assert "hf_wrong_token" not in str(raised.value)
    monkeypatch.setenv("HF_TOKEN", hub.token)
    assert publish_table(*version(1, rows(2)), REPO).changed
    assert hub.load_rows(REPO, "v1") == rows(2)


def assert_untagged_then_retry_completes(hub: HubEnv, records: list[dict]) -> None:
    repo = hub.server.repos.get(("datasets", REPO))
    assert repo is None or "v1" not in repo.tags
    result = publish_table(*version(1, records), REPO)
    assert result.changed and tags(hub)["v1"] == result.commit
    assert hub.load_rows(REPO, "v1") == records


@pytest.mark.parametrize(
    ("route", "status", "error", "message"),
    [
        ("refs", 401, HubAuthError, "HTTP 401"),
        ("create_repo", 403, HubAuthError, "HTTP 403"),
        ("preupload", 404, HubError, "repository not found"),
        ("commit", 500, HubError, "HTTP 500 while uploading the data and card"),
        ("commit", 503, HubError, "HTTP 503"),
    ],
)
def test_http_faults_leave_nothing_tagged_and_a_retry_finishes(
    hub: HubEnv, route: str, status: int, error: type, message: str
):
    hub.server.inject(route, status=status)
    with pytest.raises(error, match=message) as raised:
        publish_table(*version(1, rows(3)), REPO)
    assert hub.token not in str(raised.value)
    assert_untagged_then_retry_completes(hub, rows(3))


def test_failure_while_tagging_is_finished_by_a_retry_without_a_new_commit(hub: HubEnv):
    hub.server.inject("tag", status=500)
    with pytest.raises(HubError, match="HTTP 500 while tagging commit"):
        publish_table(*version(1, rows(3)), REPO)
    assert tags(hub) == {}
    commits = commit_count(hub)
    assert_untagged_then_retry_completes(hub, rows(3))
    assert commit_count(hub) == commits  # the data was already there: the retry only tags


def test_connection_dropped_during_commit_upload_then_retry(hub: HubEnv):
    hub.server.inject("commit", drop=True)
    with pytest.raises(HubError, match="connection .* failed while uploading the data and card"):
        publish_table(*version(1, rows(3)), REPO)
    assert_untagged_then_retry_completes(hub, rows(3))


def test_connection_dropped_during_lfs_upload_is_retried(hub: HubEnv):
    hub.server.inject("lfs_upload", drop=True)
    result = publish_table(*version(1, rows(4)), REPO)
    assert result.changed
    uploads = [r for r in hub.server.requests if r[1] == "lfs_upload"]
    assert len(uploads) == 2  # the dropped one and the client's own retry
    assert hub.load_rows(REPO, "v1") == rows(4)


def test_upload_connection_lost_for_good_then_retry(hub: HubEnv, monkeypatch: pytest.MonkeyPatch):
    import huggingface_hub.utils._http as hub_http

    monkeypatch.setattr(hub_http.time, "sleep", lambda seconds: None)  # the client's backoff
    hub.server.inject("lfs_upload", drop=True, times=100)
    with pytest.raises(HubError, match="connection .* failed while uploading the data and card"):
        publish_table(*version(1, rows(3)), REPO)
    hub.server.faults.clear()
    assert_untagged_then_retry_completes(hub, rows(3))


def test_stale_data_files_in_the_repo_are_not_part_of_the_split(hub: HubEnv):
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    stale = parquet_bytes(pa.Table.from_pylist(rows(2, start=50)))
    api.upload_file(path_or_fileobj=stale, path_in_repo="data/train-00001-of-00002.parquet",
                    repo_id=REPO, repo_type="dataset")
    publish_table(*version(1, rows(3)), REPO)
    assert hub.load_rows(REPO, "v1") == rows(3)


def test_an_older_version_published_later_keeps_main_on_the_newest(hub: HubEnv):
    newest = publish_table(*version(3, rows(4)), REPO)
    older = publish_table(*version(2, rows(2)), REPO)
    assert older.changed and older.commit != newest.commit
    repo = hub.server.repos[("datasets", REPO)]
    assert repo.branches == {"main": newest.commit}  # the helper branch is gone
    assert tags(hub) == {"v3": newest.commit, "v2": older.commit}
    assert hub.load_rows(REPO, "v2") == rows(2)
    assert hub.load_rows(REPO, "main") == rows(4)
