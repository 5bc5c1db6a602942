"""Publish catalog versions to the Hugging Face Hub and pull Hub datasets into the catalog.

A publication is one commit (the version as Parquet plus its card) followed by a tag
``v{version}`` on that commit. The tag is created last, only after the commit succeeded, so
a version is either tagged and complete or not tagged at all; a rerun finishes the job (an
unchanged upload is a no-op commit on the Hub's side). The tag is also how a second
publish of the same version knows there is nothing to do.

Tokens come from ``HF_TOKEN`` or the Hub client's login. They are passed to the client and
nowhere else: never printed, logged, written into the catalog or the card.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datagen.errors import InvalidName, MissingExtra
from datagen_plugins.hub.card import DATA_FILE, SPLIT, CardFacts, render_card
from datagen_plugins.hub.errors import HubAuthError, HubError

if TYPE_CHECKING:
    import pyarrow as pa
    from huggingface_hub import HfApi

_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
REPO_ID = re.compile(rf"{_PART}/{_PART}")
DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass
class PublishResult:
    repo_id: str
    dataset: str
    version: int
    tag: str
    commit: str
    url: str
    changed: bool  # False: this version was already published there


@dataclass
class PullResult:
    name: str
    version: int
    rows: int
    repo_id: str
    revision: str
    commit: str
    split: str


# --- names and tokens ---------------------------------------------------------------------


def parse_repo_id(value: str) -> str:
    """``ORG/NAME`` as the Hub allows it; anything else is an ``InvalidName``."""
    match = REPO_ID.fullmatch(value or "")
    if not match or ".." in value or "--" in value or value.endswith(".git"):
        raise InvalidName(
            f"repo id {value!r} is not ORG/NAME (letters, digits, '-', '_', '.';"
            " no '--' or '..'; at most 96 characters each)"
        )
    return value


def parse_pull_spec(spec: str) -> tuple[str, str | None]:
    """``ORG/NAME[@REVISION]`` -> (repo id, revision or None)."""
    repo, _, revision = spec.partition("@")
    if "@" in spec and not revision:
        raise InvalidName(f"{spec!r} has an empty revision after '@'")
    return parse_repo_id(repo), revision or None


def require_hub_clients() -> None:
    """The Hub clients are the ``hub`` extra; without them, one line that says how to add them."""
    import importlib.util

    for module in ("huggingface_hub", "datasets"):
        if importlib.util.find_spec(module) is None:
            raise MissingExtra("hub", "publishing to and reading from the Hub")


def hub_token(*, required: bool) -> str | None:
    """``HF_TOKEN``, else the Hub client's saved login; never echoed anywhere."""
    require_hub_clients()
    from huggingface_hub import get_token

    token = os.environ.get("HF_TOKEN") or get_token()
    if required and not token:
        raise HubAuthError(
            "no Hub token: set HF_TOKEN or log in with `hf auth login` (a write token is needed)"
        )
    return token or None


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _client(token: str | None) -> HfApi:
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_endpoint(), token=token or False, library_name="datagen")


# --- turning client failures into one-line errors ----------------------------------------


@dataclass
class Stage:
    """What the command was doing, for error messages."""

    now: str = "contacting the Hub"


@contextmanager
def hub_errors(repo_id: str, token: str | None) -> Iterator[Stage]:
    """Map the Hub client's exceptions to ``HubError``s that name the repo, step and status."""
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    stage = Stage()
    try:
        yield stage
    except HubError:
        raise
    except HFValidationError as exc:
        raise InvalidName(_first_line(exc, token)) from None
    except RevisionNotFoundError:
        raise HubError(f"{repo_id}: revision not found while {stage.now}") from None
    except RepositoryNotFoundError as exc:
        status = _status(exc)
        raise HubError(
            f"{repo_id}: repository not found, or not visible with this token"
            f" (HTTP {status}) while {stage.now}"
        ) from None
    except HfHubHTTPError as exc:
        raise _http_error(repo_id, stage, _status(exc)) from None
    except ValueError as exc:  # e.g. a 200 reply whose body is not the Hub's JSON
        raise HubError(
            f"{repo_id}: {hub_endpoint()} answered with something that is not the Hub's JSON"
            f" while {stage.now} ({_first_line(exc, token)}); is HF_ENDPOINT right?"
        ) from None
    except Exception as exc:
        if not _is_network_error(exc):
            raise
        raise HubError(
            f"{repo_id}: the connection to {hub_endpoint()} failed while {stage.now}"
            f" ({_root_cause(exc)}); nothing was tagged, run the command again"
        ) from None


def _http_error(repo_id: str, stage: Stage, status: int | None) -> HubError:
    if status == 401:
        return HubAuthError(
            f"{repo_id}: the Hub rejected the token (HTTP 401) while {stage.now};"
            " set HF_TOKEN to a valid token"
        )
    if status == 403:
        return HubAuthError(
            f"{repo_id}: the token may not do this (HTTP 403) while {stage.now};"
            " use a token with write access to the namespace"
        )
    if status == 404:
        return HubError(f"{repo_id}: not found (HTTP 404) while {stage.now}")
    return HubError(
        f"{repo_id}: the Hub answered HTTP {status} while {stage.now};"
        " nothing was tagged, run the command again"
    )


def _status(exc: Any) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection failures of whichever HTTP stack the installed Hub client uses."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"),
                         ("requests", "ConnectionError")):
        try:
            found.append(getattr(__import__(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _is_network_error(exc: BaseException) -> bool:
    """True for transport failures, also when the client wrapped them (upload errors)."""
    errors = _transport_errors()
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, errors):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return type(exc).__name__


def _first_line(exc: BaseException, token: str | None) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace(token, "<token>") if token else text


# --- publish ------------------------------------------------------------------------------


def parquet_bytes(table: pa.Table) -> bytes:
    """The version as one Parquet file; same table, same bytes (so reruns are no-ops)."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def repo_tags(api: HfApi, repo_id: str) -> dict[str, str]:
    """Tag name -> commit sha on ``repo_id``; empty when the repo does not exist yet."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        return {}
    return {ref.name: ref.target_commit for ref in refs.tags}


def published_tag(api: HfApi, repo_id: str, tag: str) -> str | None:
    """The commit ``tag`` points at on ``repo_id``, or None (also when the repo is missing)."""
    return repo_tags(api, repo_id).get(tag)


def commit_branch(tags: dict[str, str], version: int) -> str:
    """``main``, unless a newer version is already published: ``main`` keeps the newest.

    An older version is committed on a short-lived branch that is deleted once tagged.
    """
    published = [int(name[1:]) for name in tags if re.fullmatch(r"v[0-9]+", name)]
    return f"datagen-v{version}" if any(v > version for v in published) else "main"


def find_publication(repo_id: str, dataset: str, version: int) -> PublishResult | None:
    """The existing publication of ``dataset@version`` on ``repo_id`` (its tag), if any."""
    token = hub_token(required=True)
    tag = f"v{version}"
    with hub_errors(repo_id, token) as stage:
        stage.now = "reading the repo's tags"
        existing = published_tag(_client(token), repo_id, tag)
    if existing is None:
        return None
    url = f"{hub_endpoint()}/datasets/{repo_id}"
    return PublishResult(repo_id, dataset, version, tag, existing, url, changed=False)


def publish_table(
    table: pa.Table,
    facts: CardFacts,
    repo_id: str,
    *,
    private: bool = False,
) -> PublishResult:
    """Upload ``table`` with its card as ``facts.version`` of ``repo_id`` and tag it.

    Works on any Arrow table; ``publish`` feeds it a catalog version.
    """
    parse_repo_id(repo_id)
    token = hub_token(required=True)
    card = _redact(render_card(facts, repo_id), token)  # bad card values fail before any upload
    existing = find_publication(repo_id, facts.dataset, facts.version)
    if existing is not None:
        return existing
    api = _client(token)
    tag = f"v{facts.version}"
    url = f"{hub_endpoint()}/datasets/{repo_id}"
    with hub_errors(repo_id, token) as stage:
        stage.now = "creating the repo"
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        branch = commit_branch(repo_tags(api, repo_id), facts.version)
        if branch != "main":
            stage.now = f"creating branch {branch}"
            api.create_branch(repo_id, branch=branch, repo_type="dataset", exist_ok=True)
        stage.now = "uploading the data and card"
        commit = api.create_commit(
            repo_id,
            _operations(parquet_bytes(table), card),
            commit_message=f"Publish {facts.dataset}@{facts.version}",
            commit_description=f"datagen dataset {facts.dataset}, version {facts.version}",
            repo_type="dataset",
            revision=branch,
        )
        stage.now = f"tagging commit {commit.oid[:12]} as {tag}"
        api.create_tag(repo_id, tag=tag, revision=commit.oid, repo_type="dataset",
                       tag_message=f"{facts.dataset}@{facts.version}", exist_ok=True)
        tagged = published_tag(api, repo_id, tag) or commit.oid
        if branch != "main":
            stage.now = f"deleting branch {branch}"
            api.delete_branch(repo_id, branch=branch, repo_type="dataset")
    return PublishResult(repo_id, facts.dataset, facts.version, tag, tagged, url, True)


def _operations(data: bytes, card: str) -> list[Any]:
    from huggingface_hub import CommitOperationAdd

    return [
        CommitOperationAdd(path_in_repo=DATA_FILE, path_or_fileobj=data),
        CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode()),
    ]


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "<token>") if token else text


def publish(
    ref: str,
    repo_id: str,
    *,
    private: bool = False,
    license: str | None = None,
    description: str | None = None,
    home: Any = None,
) -> PublishResult:
    """Publish catalog version ``ref`` (``NAME`` or ``NAME@V``) to ``repo_id`` on the Hub.

    Records the publication in the catalog's ``publications`` table; publishing a version
    that is already tagged there changes nothing and returns ``changed=False``.
    """
    from datagen.catalog import Catalog
    from datagen_plugins.hub.card import hub_license
    from datagen_plugins.hub.lineage import card_facts

    parse_repo_id(repo_id)
    if license:
        hub_license(license)
    hub_token(required=True)
    with Catalog.open(home) as catalog:
        info = catalog.resolve(ref)
        result = find_publication(repo_id, info.name, info.version)
        if result is None:
            table = catalog.read_arrow(f"{info.name}@{info.version}")
            facts = card_facts(catalog, info, schema=table.schema, license=license,
                               description=description)
            result = publish_table(table, facts, repo_id, private=private)
        _record(catalog, result)
    return result


def _record(catalog: Any, result: PublishResult) -> None:
    """One row per (dataset version, repo); a rerun after a lost record adds it then."""
    already = catalog.records(
        "publications", dataset=result.dataset, version=result.version, repo=result.repo_id
    )
    if already:
        return
    catalog.append_record(
        "publications",
        {
            "dataset": result.dataset,
            "version": result.version,
            "repo": result.repo_id,
            "revision": "main",
            "tag": result.tag,
            "commit": result.commit,
            "url": result.url,
        },
    )


# --- pull ---------------------------------------------------------------------------------


def load_hub_table(
    repo_id: str, revision: str | None, *, split: str | None, config: str | None
) -> tuple[pa.Table, str]:
    """The rows of one split of a Hub dataset at a fixed commit, and that commit's sha."""
    token = hub_token(required=False)
    api = _client(token)
    with hub_errors(repo_id, token) as stage:
        stage.now = f"resolving revision {revision or 'main'}"
        sha = api.dataset_info(repo_id, revision=revision or "main").sha
        if sha is None:
            raise HubError(f"{repo_id}: the Hub named no commit for {revision or 'main'}")
        stage.now = f"loading split {split or SPLIT}"
        table = _load_split(repo_id, sha, split or SPLIT, config, token)
    return table, sha


def _load_split(repo_id: str, sha: str, split: str, config: str | None, token: str | None):
    import datasets

    try:
        loaded = datasets.load_dataset(repo_id, config, split=split, revision=sha, token=token)
    except ValueError as exc:  # unknown split or config: the message lists the choices
        raise HubError(f"{repo_id}@{sha[:12]}: {_first_line(exc, token)}") from None
    return loaded.with_format("arrow")[:]


def pull(
    spec: str,
    name: str,
    *,
    split: str | None = None,
    config: str | None = None,
    home: Any = None,
) -> PullResult:
    """Import ``ORG/NAME[@REVISION]`` from the Hub as a new version of catalog dataset ``name``."""
    from datagen.catalog import Catalog, check_name
    from datagen.readers import import_table

    check_name(name)
    repo_id, revision = parse_pull_spec(spec)
    table, sha = load_hub_table(repo_id, revision, split=split, config=config)
    source = {
        "kind": "hf",
        "repo": repo_id,
        "revision": revision or "main",
        "commit": sha,
        "split": split or SPLIT,
        "config": config,
        "endpoint": hub_endpoint(),
    }
    command = f"datagen pull {spec} --name {name}"
    command += f" --split {split}" if split else ""
    command += f" --config {config}" if config else ""
    with Catalog.open(home) as catalog:
        info = import_table(catalog, table, name, source, command=command)
    return PullResult(name, info.version, info.rows, repo_id, revision or "main", sha,
                      split or SPLIT)
