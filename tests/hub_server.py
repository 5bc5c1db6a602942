"""A small Hub-compatible HTTP server for tests, on 127.0.0.1 (standard library only).

It speaks enough of the Hub's API for the real ``huggingface_hub`` and ``datasets`` clients:
repo creation, preupload, LFS batch uploads, NDJSON commits, tags, branches and refs, repo
info, tree and paths-info listings, and file downloads by branch, tag or commit sha. Everything
lives in memory. Tests inject faults per route (an HTTP status, or a dropped connection).

    with HubServer(tokens={"hf_test"}) as hub:
        hub.inject("commit", status=500)          # the next commit answers 500
        hub.inject("lfs_upload", drop=True)       # the next LFS upload loses its connection
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

REPO = r"(?P<repo>[^/]+/[^/]+)"
PREFIX = r"/(?:(?P<kind>datasets|spaces)/)?"  # file URLs: no prefix for model repos
KIND = r"(?P<kind>datasets|models|spaces)"
LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".safetensors", ".gguf", ".zip", ".gz")
GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    spec = "https://git-lfs.github.com/spec/v1"
    return f"version {spec}\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass
class StoredFile:
    """One file in a commit: regular content, or a pointer to an LFS blob."""

    size: int
    content: bytes | None = None
    lfs_sha256: str | None = None

    @property
    def oid(self) -> str:
        if self.lfs_sha256:
            return git_blob_sha(lfs_pointer(self.lfs_sha256, self.size))
        return git_blob_sha(self.content or b"")

    @property
    def content_oid(self) -> str:
        """What preupload reports: sha256 for LFS files, the git blob sha otherwise."""
        return self.lfs_sha256 or self.oid

    def tree_entry(self, path: str, commit: Commit) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "oid": self.oid, "size": self.size, "path": path}
        if self.lfs_sha256:
            pointer = lfs_pointer(self.lfs_sha256, self.size)
            entry["lfs"] = {"oid": self.lfs_sha256, "size": self.size, "pointerSize": len(pointer)}
        entry["lastCommit"] = {"id": commit.sha, "title": commit.title, "date": commit.date}
        return entry


@dataclass
class Commit:
    sha: str
    title: str
    parent: str | None
    files: dict[str, StoredFile]
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"))


@dataclass
class Repo:
    repo_id: str
    kind: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        sha = self.branches.get(revision) or self.tags.get(revision)
        if sha is None and revision.startswith("refs/heads/"):
            sha = self.branches.get(revision.removeprefix("refs/heads/"))
        if sha is None and revision.startswith("refs/tags/"):
            sha = self.tags.get(revision.removeprefix("refs/tags/"))
        if sha is None and re.fullmatch(r"[0-9a-f]{40}", revision):
            sha = revision if revision in self.commits else None
        return self.commits.get(sha) if sha else None

    def add_commit(self, branch: str, title: str, files: dict[str, StoredFile]) -> Commit:
        parent = self.branches.get(branch)
        listing = sorted((path, stored.oid) for path, stored in files.items())
        seed = json.dumps([parent, title, len(self.commits), listing])
        commit = Commit(hashlib.sha1(seed.encode()).hexdigest(), title, parent, files)
        self.commits[commit.sha] = commit
        self.branches[branch] = commit.sha
        return commit


@dataclass
class Fault:
    route: str
    status: int | None
    drop: bool
    times: int


class HubError(Exception):
    """Raised inside a handler: becomes a JSON error answer with the Hub's error headers."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.code = code
        self.extra = extra


class HubServer:
    """The server's state, routing table and lifecycle. Handlers run on the server's threads."""

    ROUTES: list[tuple[str, str, str]] = [
        ("GET", r"/api/whoami-v2", "whoami"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("POST", r"/api/repos/create", "create_repo"),
        ("GET", rf"/api/{KIND}/{REPO}(?:/revision/(?P<rev>[^/]+))?", "repo_info"),
        ("GET", rf"/api/{KIND}/{REPO}/refs", "refs"),
        ("GET", rf"/api/{KIND}/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "tree"),
        ("POST", rf"/api/{KIND}/{REPO}/paths-info/(?P<rev>[^/]+)", "paths_info"),
        ("GET", rf"/api/{KIND}/{REPO}/commits/(?P<rev>[^/]+)", "commits"),
        ("POST", rf"/api/{KIND}/{REPO}/preupload/(?P<rev>[^/]+)", "preupload"),
        ("POST", rf"/api/{KIND}/{REPO}/commit/(?P<rev>[^/]+)", "commit"),
        ("POST", rf"/api/{KIND}/{REPO}/tag/(?P<rev>[^/]+)", "tag"),
        ("POST", rf"/api/{KIND}/{REPO}/branch/(?P<branch>[^/]+)", "create_branch"),
        ("DELETE", rf"/api/{KIND}/{REPO}/branch/(?P<branch>[^/]+)", "delete_branch"),
        ("POST", rf"{PREFIX}{REPO}\.git/info/lfs/objects/batch", "lfs_batch"),
        ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", "lfs_upload"),
        ("GET", rf"{PREFIX}{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
        ("HEAD", rf"{PREFIX}{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    ]

    def __init__(self, tokens: set[str] | None = None, user: str = "tester"):
        self.tokens = tokens if tokens is not None else {"hf_test_token"}
        self.user = user
        self.repos: dict[tuple[str, str], Repo] = {}
        self.blobs: dict[str, bytes] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, str]] = []  # (method, route or "?", raw path)
        self.lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None

    # lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> HubServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # fault injection -----------------------------------------------------------------
    def inject(self, route: str, *, status: int | None = None, drop: bool = False, times: int = 1):
        """The next ``times`` requests to ``route`` answer ``status`` or lose their connection."""
        with self.lock:
            self.faults.append(Fault(route, status, drop, times))

    def take_fault(self, route: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.route == route and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    # helpers -------------------------------------------------------------------------
    def repo(self, kind: str | None, repo_id: str) -> Repo:
        found = self.repos.get((kind or "models", repo_id))
        if found is None:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return found

    def commit_at(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(unquote(revision))
        if commit is None:
            raise HubError(404, f"Invalid rev id: {unquote(revision)}", "RevisionNotFound")
        return commit

    def check_token(self, token: str | None, *, required: bool) -> None:
        if token is not None and token not in self.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        if required and token is None:
            raise HubError(401, "You must be authenticated to do this")

    # route handlers: (request) -> (status, json body) or raw bytes ---------------------
    def whoami(self, req: Request) -> Any:
        self.check_token(req.token, required=True)
        return {"type": "user", "name": self.user, "orgs": [], "auth": {"type": "access_token"}}

    def validate_yaml(self, req: Request) -> Any:
        content = req.json().get("content", "")
        if content.startswith("---") and content.count("\n---") < 1:
            raise HubError(400, "Invalid metadata in README.md: the YAML block is not closed")
        return {"errors": [], "warnings": []}

    def create_repo(self, req: Request) -> Any:
        self.check_token(req.token, required=True)
        body = req.json()
        kind = (body.get("type") or "model") + "s"
        repo_id = f"{body.get('organization') or self.user}/{body['name']}"
        prefix = "" if kind == "models" else f"{kind}/"
        url = f"{self.url}/{prefix}{repo_id}"
        with self.lock:
            if (kind, repo_id) in self.repos:
                raise HubError(409, "You already created this repo", url=url)
            private = body.get("visibility") == "private" or bool(body.get("private"))
            repo = Repo(repo_id, kind, private)
            attributes = StoredFile(len(GITATTRIBUTES), content=GITATTRIBUTES)
            repo.add_commit("main", "initial commit", {".gitattributes": attributes})
            self.repos[(kind, repo_id)] = repo
        return {"url": url, "name": repo_id, "id": repo_id}

    def readable_repo(self, req: Request) -> Repo:
        self.check_token(req.token, required=False)
        repo = self.repo(req.group("kind"), req.group("repo"))
        if repo.private and req.token is None:
            raise HubError(401, f"Repository {repo.repo_id} is private", "RepoNotFound")
        return repo

    def writable_repo(self, req: Request) -> Repo:
        self.check_token(req.token, required=True)
        return self.repo(req.group("kind"), req.group("repo"))

    def repo_info(self, req: Request) -> Any:
        repo = self.readable_repo(req)
        commit = self.commit_at(repo, req.group("rev") or "main")
        siblings = []
        for path, stored in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path, "size": stored.size, "blobId": stored.oid}
            if stored.lfs_sha256:
                pointer = lfs_pointer(stored.lfs_sha256, stored.size)
                sibling["lfs"] = {"size": stored.size, "sha256": stored.lfs_sha256,
                                  "pointerSize": len(pointer)}
            siblings.append(sibling)
        return {"id": repo.repo_id, "author": repo.repo_id.split("/")[0], "sha": commit.sha,
                "private": repo.private, "gated": False, "disabled": False, "downloads": 0,
                "likes": 0, "tags": [], "siblings": siblings, "lastModified": commit.date,
                "createdAt": commit.date}

    def refs(self, req: Request) -> Any:
        repo = self.readable_repo(req)

        def ref(kind: str, name: str, sha: str) -> dict[str, str]:
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": sha}

        return {"branches": [ref("heads", n, s) for n, s in repo.branches.items()],
                "tags": [ref("tags", n, s) for n, s in repo.tags.items()],
                "converts": [], "pullRequests": []}

    def tree(self, req: Request) -> Any:
        repo = self.readable_repo(req)
        commit = self.commit_at(repo, req.group("rev"))
        folder = unquote(req.group("path") or "").strip("/")
        recursive = req.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        prefix = f"{folder}/" if folder else ""
        if folder and folder in commit.files:
            raise HubError(404, f"{folder} is a file, not a folder", "EntryNotFound")
        entries: dict[str, dict[str, Any]] = {}
        for path, stored in sorted(commit.files.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            if "/" in rest and not recursive:
                sub = prefix + rest.split("/")[0]
                entries.setdefault(sub, {"type": "directory", "oid": git_blob_sha(sub.encode()),
                                         "size": 0, "path": sub})
                continue
            entries[path] = stored.tree_entry(path, commit)
        if folder and not entries:
            raise HubError(404, f"{folder} does not exist at {commit.sha}", "EntryNotFound")
        if recursive:
            for path in list(entries):
                parts = path.split("/")
                for depth in range(len(prefix.split("/")) if prefix else 1, len(parts)):
                    sub = "/".join(parts[:depth])
                    entries.setdefault(sub, {"type": "directory", "oid": git_blob_sha(sub.encode()),
                                             "size": 0, "path": sub})
        return sorted(entries.values(), key=lambda e: (e["type"] != "directory", e["path"]))

    def paths_info(self, req: Request) -> Any:
        repo = self.readable_repo(req)
        commit = self.commit_at(repo, req.group("rev"))
        body = req.form_or_json()
        paths = body.get("paths", [])
        paths = [paths] if isinstance(paths, str) else paths
        found = []
        for path in paths:
            path = path.strip("/")
            if path in commit.files:
                found.append(commit.files[path].tree_entry(path, commit))
            elif any(p.startswith(path + "/") for p in commit.files):
                found.append({"type": "directory", "oid": git_blob_sha(path.encode()), "size": 0,
                              "path": path})
        return found

    def commits(self, req: Request) -> Any:
        repo = self.readable_repo(req)
        commit: Commit | None = self.commit_at(repo, req.group("rev"))
        history = []
        while commit is not None:
            history.append({"id": commit.sha, "title": commit.title, "message": "",
                            "authors": [{"user": self.user}], "date": commit.date})
            commit = repo.commits.get(commit.parent) if commit.parent else None
        return history

    def preupload(self, req: Request) -> Any:
        repo = self.writable_repo(req)
        commit = repo.resolve(unquote(req.group("rev")))
        files = []
        for item in req.json().get("files", []):
            path = item["path"]
            lfs = path.endswith(LFS_SUFFIXES) or item.get("size", 0) > 10_000_000
            existing = commit.files.get(path) if commit else None
            files.append({"path": path, "uploadMode": "lfs" if lfs else "regular",
                          "shouldIgnore": False, "oid": existing.content_oid if existing else None})
        return {"files": files, "commitOid": commit.sha if commit else None}

    def lfs_batch(self, req: Request) -> Any:
        self.writable_repo(req)
        objects = []
        for obj in req.json().get("objects", []):
            answer: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.blobs:
                answer["actions"] = {"upload": {"href": f"{self.url}/lfs-upload/{obj['oid']}"}}
            objects.append(answer)
        return {"transfer": "basic", "objects": objects}

    def lfs_upload(self, req: Request) -> Any:
        data = req.body
        if hashlib.sha256(data).hexdigest() != req.group("oid"):
            raise HubError(400, "uploaded content does not match its sha256")
        with self.lock:
            self.blobs[req.group("oid")] = data
        return {}

    def commit(self, req: Request) -> Any:
        repo = self.writable_repo(req)
        branch = unquote(req.group("rev"))
        if branch not in repo.branches:
            raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        lines = [json.loads(line) for line in req.body.splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line["key"] == "header"), {})
        with self.lock:
            files = dict(repo.commits[repo.branches[branch]].files)
            for line in lines:
                self.apply_operation(files, line["key"], line["value"])
            commit = repo.add_commit(branch, header.get("summary", ""), files)
        return {"commitUrl": f"{self.url}/{repo.kind}/{repo.repo_id}/commit/{commit.sha}",
                "commitOid": commit.sha, "pullRequestUrl": None}

    def apply_operation(self, files: dict[str, StoredFile], key: str, value: dict) -> None:
        if key == "file":
            content = base64.b64decode(value["content"])
            files[value["path"]] = StoredFile(len(content), content=content)
        elif key == "lfsFile":
            blob = self.blobs.get(value["oid"])
            if blob is None:
                missing = f"LFS object {value['oid']} for {value['path']} was never uploaded"
                raise HubError(422, missing)
            files[value["path"]] = StoredFile(len(blob), lfs_sha256=value["oid"])
        elif key == "deletedFile":
            files.pop(value["path"], None)
        elif key == "deletedFolder":
            for path in [p for p in files if p.startswith(value["path"].rstrip("/") + "/")]:
                del files[path]

    def tag(self, req: Request) -> Any:
        repo = self.writable_repo(req)
        commit = self.commit_at(repo, req.group("rev"))
        name = req.json()["tag"]
        with self.lock:
            if name in repo.tags:
                raise HubError(409, f"Tag {name} already exists")
            repo.tags[name] = commit.sha
        return {}

    def create_branch(self, req: Request) -> Any:
        repo = self.writable_repo(req)
        name = unquote(req.group("branch"))
        start = self.commit_at(repo, req.json().get("startingPoint") or "main")
        with self.lock:
            if name in repo.branches:
                raise HubError(409, f"Branch {name} already exists")
            repo.branches[name] = start.sha
        return {}

    def delete_branch(self, req: Request) -> Any:
        repo = self.writable_repo(req)
        name = unquote(req.group("branch"))
        with self.lock:
            if name not in repo.branches or name == "main":
                raise HubError(404, f"Branch {name} cannot be deleted", "RevisionNotFound")
            del repo.branches[name]
        return {}

    def resolve(self, req: Request) -> Any:
        repo = self.readable_repo(req)
        commit = self.commit_at(repo, req.group("rev"))
        path = unquote(req.group("path"))
        stored = commit.files.get(path)
        if stored is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        content = self.blobs[stored.lfs_sha256] if stored.lfs_sha256 else stored.content or b""
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{stored.oid}"'}
        if stored.lfs_sha256:
            headers["X-Linked-Etag"] = f'"{stored.lfs_sha256}"'
            headers["X-Linked-Size"] = str(stored.size)
        return RawAnswer(content, headers)


@dataclass
class RawAnswer:
    content: bytes
    headers: dict[str, str]


@dataclass
class Request:
    method: str
    match: re.Match[str]
    query: dict[str, list[str]]
    headers: Any
    body: bytes

    def group(self, name: str) -> Any:
        return self.match.groupdict().get(name)

    @property
    def token(self) -> str | None:
        value = self.headers.get("Authorization", "")
        if not value.startswith("Bearer "):
            return None
        return value.removeprefix("Bearer ").strip() or None

    def json(self) -> dict[str, Any]:
        return json.loads(self.body or b"{}")

    def form_or_json(self) -> dict[str, Any]:
        if "json" in self.headers.get("Content-Type", ""):
            return self.json()
        form = parse_qs(self.body.decode())
        return {key: values if key == "paths" else values[0] for key, values in form.items()}


def _make_handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            self.dispatch("GET")

        def do_HEAD(self) -> None:
            self.dispatch("HEAD")

        def do_POST(self) -> None:
            self.dispatch("POST")

        def do_PUT(self) -> None:
            self.dispatch("PUT")

        def do_DELETE(self) -> None:
            self.dispatch("DELETE")

        def dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            for route_method, pattern, name in HubServer.ROUTES:
                match = re.fullmatch(pattern, parts.path)
                if route_method == method and match:
                    hub.requests.append((method, name, self.path))
                    return self.run_route(name, match, parse_qs(parts.query))
            hub.requests.append((method, "?", self.path))
            self.read_body()
            self.answer(404, {"error": f"no route for {method} {parts.path}"}, code="EntryNotFound")

        def read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", ""):
                return self.read_chunked()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def read_chunked(self, limit: int | None = None) -> bytes:
            data = b""
            while limit is None or len(data) < limit:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data

        def run_route(self, name: str, match: re.Match[str], query: dict) -> None:
            fault = hub.take_fault(name)
            if fault and fault.drop:
                return self.drop_connection()
            body = self.read_body()
            if fault and fault.status:
                return self.answer(fault.status, {"error": f"injected {fault.status}"},
                                   code="RepoNotFound" if fault.status == 404 else None)
            request = Request(self.command, match, query, self.headers, body)
            try:
                result = getattr(hub, name)(request)
            except HubError as exc:
                return self.answer(exc.status, {"error": str(exc), **exc.extra}, code=exc.code)
            if isinstance(result, RawAnswer):
                return self.send_raw(result)
            self.answer(200, result)

        def drop_connection(self) -> None:
            """Read part of the request body, then close the socket without answering."""
            if "chunked" in self.headers.get("Transfer-Encoding", ""):
                self.read_chunked(limit=1)
            else:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(min(length, max(1, length // 2)))
            self.close_connection = True
            self.connection.close()

        def answer(self, status: int, payload: Any, code: str | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status >= 400:
                self.send_header("X-Error-Message", str(payload.get("error", "")))
                if code:
                    self.send_header("X-Error-Code", code)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def send_raw(self, raw: RawAnswer) -> None:
            content, status = raw.content, 200
            ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if ranged:
                start = int(ranged.group(1))
                end = int(ranged.group(2)) if ranged.group(2) else len(content) - 1
                content, status = content[start:end + 1], 206
            self.send_response(status)
            for key, value in raw.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

    return Handler
