"""The few calls the engine store makes, for either official client: request bodies are
identical, only the calling convention differs (``**body`` for elasticsearch-py, ``body=`` for
opensearch-py).  Also: which engine answers at a URL, and how its errors are classified."""

from __future__ import annotations

import re
from importlib.metadata import version as installed
from typing import Any, Literal

import httpx

from dragnet.settings import DragnetSettings
from index.store import StoreError

Flavour = Literal["opensearch", "elasticsearch"]
# the parts of a _bulk answer the store reads (the rest is never sent back)
BULK_FILTER = "errors,items.*.status,items.*.error"
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class EngineClient:
    """The few calls the store makes, for either client; request bodies are identical, only
    the calling convention differs (``**body`` for elasticsearch-py, ``body=`` for opensearch-py)."""

    def __init__(self, flavour: Flavour, url: str, settings: DragnetSettings, server_major: int | None = None) -> None:
        """``server_major``: the Elasticsearch major answering at ``url`` when already known
        (else asked here; an engine that cannot be reached yet is taken to match the client)."""
        self.flavour = flavour
        s = settings.search
        auth = (s.username, s.password.get_secret_value()) if s.username and s.password else None
        hosts = node_urls(url)
        # A node that refuses or drops the connection is marked dead by the client's pool and the
        # same request goes to the next node at once (one try per node); 429/5xx answers and
        # timeouts are not retried here but by the store, with backoff (``EngineStore._call``).
        # Retrying a request, a bulk included, is safe: every write is keyed by ``Listing.doc_id``
        # and either conditional (``if_seq_no``) or a create that answers 409 the second time.
        failover = len(hosts) - 1
        if flavour == "opensearch":
            from opensearchpy import OpenSearch  # one engine's client only: the other is never loaded

            self.raw: Any = OpenSearch(
                hosts=hosts,
                http_auth=auth,
                verify_certs=s.verify_certs,
                timeout=s.request_timeout_s,
                max_retries=failover,
                retry_on_status=(),
                retry_on_timeout=False,
                http_compress=False,
                pool_maxsize=s.bulk_concurrency + 2,
            )
        else:
            if server_major is None:
                try:
                    server_major = detect_engine(url, settings)[1]
                except StoreError as exc:
                    if exc.retryable is not True:
                        raise
            self.raw = es_client_class(server_major or 0)(
                hosts,
                basic_auth=auth,
                verify_certs=s.verify_certs,
                request_timeout=s.request_timeout_s,
                max_retries=failover,
                retry_on_status=(),
                retry_on_timeout=False,
                connections_per_node=s.bulk_concurrency + 2,
            )

    @staticmethod
    def _body(response: Any) -> Any:
        return getattr(response, "body", response)

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.flavour == "opensearch":
            return self.raw.search(index=index, body=body)
        return self._body(self.raw.search(index=index, **body))

    def count(self, index: str, query: dict[str, Any]) -> int:
        if self.flavour == "opensearch":
            return int(self.raw.count(index=index, body={"query": query})["count"])
        return int(self._body(self.raw.count(index=index, query=query))["count"])

    def bulk(self, ndjson: bytes) -> dict[str, Any]:
        """One ``_bulk`` of an encoded body; the answer is cut to what the store reads."""
        if self.flavour == "opensearch":
            return self.raw.bulk(body=ndjson, filter_path=BULK_FILTER)
        return self._body(self.raw.bulk(operations=ndjson, filter_path=BULK_FILTER))

    def mget(self, index: str, ids: list[str]) -> list[dict[str, Any]]:
        if self.flavour == "opensearch":
            return self.raw.mget(index=index, body={"ids": ids})["docs"]
        return self._body(self.raw.mget(index=index, ids=ids))["docs"]

    def put_index_template(self, name: str, body: dict[str, Any]) -> None:
        if self.flavour == "opensearch":
            self.raw.indices.put_index_template(name=name, body=body)
        else:
            self.raw.indices.put_index_template(name=name, **body)

    def put_mapping(self, index: str, properties: dict[str, Any]) -> None:
        """Add fields to the mappings of existing indices (fields only ever get added)."""
        if self.flavour == "opensearch":
            self.raw.indices.put_mapping(index=index, body={"properties": properties})
        else:
            self.raw.indices.put_mapping(index=index, properties=properties)

    def alias_exists(self, name: str) -> bool:
        return bool(self.raw.indices.exists_alias(name=name))

    def create_index(self, name: str, body: dict[str, Any]) -> None:
        if self.flavour == "opensearch":
            self.raw.indices.create(index=name, body=body)
        else:
            self.raw.indices.create(index=name, **body)

    def refresh(self, index: str) -> None:
        self.raw.indices.refresh(index=index)

    def flush(self, index: str) -> None:
        self.raw.indices.flush(index=index, allow_no_indices=True, ignore_unavailable=True)

    def put_settings(self, index: str, body: dict[str, Any]) -> None:
        if self.flavour == "opensearch":
            self.raw.indices.put_settings(index=index, body=body, allow_no_indices=True, ignore_unavailable=True)
        else:
            self.raw.indices.put_settings(index=index, settings=body, allow_no_indices=True, ignore_unavailable=True)

    def delete_indices(self, pattern: str) -> None:
        """Delete the indices matching ``pattern`` by their names: Elasticsearch 8+ refuses a
        wildcard delete by default (``action.destructive_requires_name``)."""
        found = self.raw.indices.get(
            index=pattern, expand_wildcards="all", allow_no_indices=True, ignore_unavailable=True
        )
        names = sorted(self._body(found))
        for start in range(0, len(names), 50):
            self.raw.indices.delete(index=",".join(names[start : start + 50]), ignore_unavailable=True)

    def delete_template(self, name: str) -> None:
        try:
            self.raw.indices.delete_index_template(name=name)
        except Exception as exc:
            if status_of(exc) != 404:
                raise

    # -- index lifecycle: ILM on Elasticsearch, ISM on OpenSearch ---------------------------------
    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A request the typed client APIs do not cover alike on both engines (ISM has no
        method in every opensearch-py, ILM none in opensearch-py)."""
        if self.flavour == "opensearch":
            return self.raw.transport.perform_request(method, path, body=body)
        headers = {"accept": "application/json"}
        if body is not None:
            headers["content-type"] = "application/json"
        return self._body(self.raw.perform_request(method, path, headers=headers, body=body))

    def lifecycle_support(self) -> str | None:
        """None when the engine manages index lifecycles, else why not, in words.
        Elasticsearch: ``GET /_xpack`` lists ILM as available and enabled (without X-Pack the
        path is an invalid index name: 400).  OpenSearch: ``GET /_plugins/_ism/policies``
        answers (without the index-management plugin: 400, no handler)."""
        if self.flavour == "elasticsearch":
            path, what = "/_xpack", "ILM (X-Pack)"
        else:
            path, what = "/_plugins/_ism/policies?size=1", "ISM (the index-management plugin)"
        try:
            if self.flavour == "opensearch":  # ignore=: opensearch-py would log the expected 400 as a warning
                info = self.raw.transport.perform_request("GET", path, ignore=(400, 404))
                if "policies" not in info:
                    return f"GET {path.split('?')[0]} answered {info.get('status', 400)}: no {what} on this opensearch"
                return None
            info = self._request("GET", path)
        except Exception as exc:
            if status_of(exc) in (400, 404):
                return f"GET {path.split('?')[0]} answered {status_of(exc)}: no {what} on this {self.flavour}"
            if status_of(exc) in (401, 403):
                return f"GET {path.split('?')[0]} answered {status_of(exc)}: this user may not ask about {what}"
            raise
        if self.flavour == "elasticsearch":
            ilm = (info.get("features") or {}).get("ilm") or {}
            if not (ilm.get("available") and ilm.get("enabled")):
                return f"GET /_xpack: ILM is not available and enabled on this elasticsearch ({ilm or 'not listed'})"
        return None

    def _policy_path(self, name: str) -> str:
        return f"/_ilm/policy/{name}" if self.flavour == "elasticsearch" else f"/_plugins/_ism/policies/{name}"

    def get_lifecycle_policy(self, name: str) -> dict[str, Any] | None:
        """The stored policy (the engine's own answer for it), or None."""
        try:
            found = self._request("GET", self._policy_path(name))
        except Exception as exc:
            if status_of(exc) == 404:
                return None
            raise
        return dict(found[name]) if self.flavour == "elasticsearch" else dict(found)

    @staticmethod
    def policy_fingerprint(flavour: Flavour, stored: dict[str, Any]) -> str | None:
        """The fingerprint Dragnet wrote into a stored policy (ILM ``_meta``, ISM description)."""
        policy = stored.get("policy") or {}
        if flavour == "elasticsearch":
            return (policy.get("_meta") or {}).get("fingerprint")
        found = re.search(r"fingerprint ([0-9a-f]+)", str(policy.get("description") or ""))
        return found.group(1) if found else None

    def put_lifecycle_policy(self, name: str, policy: dict[str, Any], stored: dict[str, Any] | None) -> None:
        """Create the policy, or replace ``stored`` (ISM wants the sequence number it replaces)."""
        path = self._policy_path(name)
        if self.flavour == "opensearch" and stored is not None:
            path += f"?if_seq_no={stored['_seq_no']}&if_primary_term={stored['_primary_term']}"
        self._request("PUT", path, {"policy": policy})

    def delete_lifecycle_policy(self, name: str) -> None:
        try:
            self._request("DELETE", self._policy_path(name))
        except Exception as exc:
            if status_of(exc) != 404:
                raise

    def lifecycle_index_settings(self, name: str) -> dict[str, Any]:
        """What the index template carries to attach policy ``name`` to new indices: the
        ``index.lifecycle.name`` setting on Elasticsearch; nothing on OpenSearch, where the
        policy's own ``ism_template`` attaches it."""
        return {"index.lifecycle.name": name} if self.flavour == "elasticsearch" else {}

    def close(self) -> None:
        self.raw.close()


def node_urls(url: str) -> list[str]:
    """The node addresses of ``search.url``: one URL, or the nodes of a cluster comma-separated."""
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls:
        raise StoreError("search.url names no node")
    return urls


def detect_flavour(url: str, settings: DragnetSettings) -> Flavour:
    """Ask the server who it is (``GET /``): OpenSearch says ``version.distribution: opensearch``."""
    return detect_engine(url, settings)[0]


def detect_engine(url: str, settings: DragnetSettings) -> tuple[Flavour, int]:
    """The engine at ``url`` and its major version (``GET /``); with several nodes, the first
    one that answers says."""
    s = settings.search
    auth = (s.username, s.password.get_secret_value()) if s.username and s.password else None
    problems = []
    for node in node_urls(url):
        try:
            response = httpx.get(node.rstrip("/") + "/", auth=auth, verify=s.verify_certs, timeout=s.request_timeout_s)
            response.raise_for_status()
            info = response.json()
            break
        except (httpx.HTTPError, ValueError) as exc:
            problems.append(f"{node}: {exc}")
    else:
        raise StoreError(f"cannot reach the search engine at {'; '.join(problems)}", retryable=True)
    version = info.get("version", {})
    major = int(str(version.get("number", "0")).split(".")[0] or 0)
    if version.get("distribution") == "opensearch":
        return "opensearch", major
    if major and major < 8:
        raise StoreError(f"Elasticsearch {version.get('number')} is too old: Dragnet needs 8 or 9")
    check_es_client(major)
    return "elasticsearch", major


def check_es_client(server_major: int) -> int | None:
    """The REST compatibility version to ask an Elasticsearch ``server_major`` for, or None for
    the client's own.  elasticsearch-py N asks for compatibility with N, which an N-1 server
    refuses; the N-1 server's own version works (the bodies Dragnet sends are the same on 8 and 9:
    the contract tests run them on an 8 server with the 9 client).  A wider gap is refused plainly
    instead of failing on the first request."""

    client_major = int(installed("elasticsearch").split(".")[0])
    if not server_major or client_major <= server_major:
        return None
    if client_major - server_major == 1:
        return server_major
    raise StoreError(
        f"this Elasticsearch server is {server_major}.x but the installed client is "
        f"elasticsearch-py {client_major}.x: install 'elasticsearch>={server_major}.13,<{server_major + 1}'"
    )


_JSON_MIMETYPE = re.compile(r"application/(json|x-ndjson)")


def compat_headers(headers: Any, major: int) -> dict[str, str]:
    """``Accept``/``Content-Type`` of one request asking for REST compatibility with ``major``
    (the form elasticsearch-py leaves as it is: it only rewrites plain ``application/json``)."""
    compat = rf"application/vnd.elasticsearch+\1; compatible-with={major}"
    return {
        key: _JSON_MIMETYPE.sub(compat, value) if key.lower() in {"accept", "content-type"} else value
        for key, value in dict(headers or {}).items()
    }


def es_client_class(server_major: int) -> Any:
    """``Elasticsearch``, or for a server one major older, a subclass whose every request asks for
    that server's own REST version (``perform_request`` is where all API methods meet)."""
    from elasticsearch import Elasticsearch  # one engine's client only: the other is never loaded

    compat = check_es_client(server_major)
    if compat is None:
        return Elasticsearch
    major: int = compat

    class CompatElasticsearch(Elasticsearch):
        def perform_request(self, method: str, path: str, *args: Any, headers: Any = None, **kwargs: Any) -> Any:
            return super().perform_request(method, path, *args, headers=compat_headers(headers, major), **kwargs)

    return CompatElasticsearch


def status_of(exc: Exception) -> int | None:
    for attr in ("status_code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    status = getattr(getattr(exc, "meta", None), "status", None)
    return status if isinstance(status, int) else None  # elastic-transport says "N/A" when nothing answered


def is_connection_error(exc: Exception) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return (
        bool(names & {"ConnectionError", "ConnectionTimeout", "TransportError", "ConnectionRefusedError"})
        and status_of(exc) is None
    )


def reason_of(exc: Exception) -> str:
    info = getattr(exc, "info", None) or getattr(exc, "body", None)
    if isinstance(info, dict) and isinstance(info.get("error"), dict):
        return f"{info['error'].get('type')}: {info['error'].get('reason')}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]
