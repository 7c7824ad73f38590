"""Dynamic API checks, each a function of a live base URL and the tokens it needs.

They read the operations from the OpenAPI document and return :class:`Problem`
records naming the endpoint, the parameter and the payload. Nothing here knows
the trading domain: :mod:`ops.security.api_security` prepares the accounts and
resources on the real app, and the tests aim the same checks at a deliberately
broken stand-in to show that each one can fail.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import jwt

from ops.security.findings import Severity

METHODS = ("get", "post", "put", "patch", "delete")
SQL_PAYLOADS = (
    "' OR '1'='1",
    "1' OR 1=1 -- ",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "1 UNION SELECT NULL--",
    "admin@example.com' --",
)
XSS_PAYLOADS = ('<script>alert("xss")</script>', '"><img src=x onerror=alert(1)>')
DATABASE_ERRORS = re.compile(
    r"(sqlite3?\.|OperationalError|ProgrammingError|IntegrityError|syntax error at or near|"
    r"unrecognized token|SQLSTATE|psycopg|asyncpg\.exceptions|near \"[^\"]*\": syntax error|"
    r"error in your SQL syntax|unterminated quoted string)",
    re.IGNORECASE,
)
EVIL_ORIGIN = "https://evil.example"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing a check found wrong, at one endpoint."""

    check: str
    severity: Severity
    endpoint: str
    detail: str
    parameter: str = ""
    payload: str = ""

    def message(self) -> str:
        """The endpoint, the problem, and the parameter and payload that showed it."""
        where = f" (parameter {self.parameter}, payload {self.payload!r})" if self.parameter else ""
        return f"{self.endpoint}: {self.detail}{where}"


@dataclass(frozen=True, slots=True)
class Field:
    """A string input of an operation: where it goes and what it is called."""

    name: str
    location: str


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of the OpenAPI document, with sample inputs for requests."""

    method: str
    path: str
    fields: tuple[Field, ...] = ()
    path_samples: Mapping[str, str] = field(default_factory=dict)
    body_kind: str = ""
    bodies: tuple[Mapping[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """``METHOD /path/{template}``."""
        return f"{self.method.upper()} {self.path}"

    @property
    def path_parameters(self) -> tuple[str, ...]:
        """Names of the path's ``{parameters}``."""
        return tuple(re.findall(r"{([^}]+)}", self.path))


def operations(schema: Mapping[str, Any]) -> list[Operation]:
    """Every operation of an OpenAPI 3 document, with string inputs and sample values."""
    components = schema.get("components", {}).get("schemas", {})
    found = []
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                found.append(_operation(method, path, item[method], components))
    return found


def _operation(
    method: str, path: str, spec: Mapping[str, Any], comps: Mapping[str, Any]
) -> Operation:
    fields, samples = [], {}
    for parameter in spec.get("parameters", []):
        schema = _resolve(parameter.get("schema", {}), comps)
        if parameter["in"] == "path":
            samples[parameter["name"]] = str(sample(schema, comps))
        if parameter["in"] in ("query", "path") and _is_string(schema, comps):
            fields.append(Field(parameter["name"], parameter["in"]))
    kind, bodies = _bodies(spec.get("requestBody", {}), comps)
    for body_schema in _variants(spec.get("requestBody", {}), comps):
        properties = _resolve(body_schema, comps).get("properties", {})
        fields += [
            Field(name, kind)
            for name, prop in properties.items()
            if _is_string(prop, comps) and Field(name, kind) not in fields
        ]
    return Operation(method, path, tuple(fields), samples, kind, bodies)


def _content(request_body: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    content = request_body.get("content", {})
    if "application/json" in content:
        return "json", content["application/json"].get("schema", {})
    if "application/x-www-form-urlencoded" in content:
        return "form", content["application/x-www-form-urlencoded"].get("schema", {})
    return "", {}


def _variants(request_body: Mapping[str, Any], comps: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    _kind, schema = _content(request_body)
    if not schema:
        return []
    schema = _resolve(schema, comps)
    return list(schema.get("oneOf") or schema.get("anyOf") or [schema])


def _bodies(
    request_body: Mapping[str, Any], comps: Mapping[str, Any]
) -> tuple[str, tuple[Any, ...]]:
    kind, _schema = _content(request_body)
    return kind, tuple(sample(variant, comps) for variant in _variants(request_body, comps))


def _resolve(schema: Mapping[str, Any], comps: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = comps.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
    return schema


def _is_string(schema: Mapping[str, Any], comps: Mapping[str, Any]) -> bool:
    schema = _resolve(schema, comps)
    if schema.get("type") == "string" and "enum" not in schema and "const" not in schema:
        return True
    return any(_is_string(option, comps) for option in schema.get("anyOf", []))


def sample(schema: Mapping[str, Any], comps: Mapping[str, Any]) -> Any:
    """A plausible value for a JSON schema: its example, default, const, first enum value..."""
    schema = _resolve(schema, comps)
    for key in ("const", "example", "default"):
        if key in schema:
            return schema[key]
    for key in ("examples", "enum"):
        if schema.get(key):
            return schema[key][0]
    options = [
        o for o in schema.get("anyOf", []) + schema.get("oneOf", []) if o.get("type") != "null"
    ]
    if options:
        return sample(options[0], comps)
    return _by_type(schema, comps)


def _by_type(schema: Mapping[str, Any], comps: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: sample(prop, comps) for name, prop in properties.items()}
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    return "trader@example.com" if "@" in str(schema.get("pattern", "")) else "sample"


def request(
    client: httpx.Client,
    operation: Operation,
    *,
    token: str | None = None,
    path_values: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Call an operation: path parameters from ``path_values`` (else samples), the first
    sample body unless ``body`` is given, and a bearer ``token`` when there is one."""
    path = _concrete(operation, path_values)
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    payload = body if body is not None else (operation.bodies[0] if operation.bodies else None)
    content: dict[str, Any] = {}
    if payload is not None and operation.body_kind:
        content = {"json": payload} if operation.body_kind == "json" else {"data": payload}
    return client.request(
        operation.method.upper(), path, params=dict(query or {}), headers=sent, **content
    )


def _send(client: httpx.Client, operation: Operation, **kwargs: Any) -> httpx.Response | str:
    """The response, or why there was none (a crash shows as a dropped connection)."""
    try:
        return request(client, operation, **kwargs)
    except httpx.HTTPError as error:
        return f"no answer ({type(error).__name__}: {error})"


def injection(
    client: httpx.Client, ops: Sequence[Operation], token: str | None, login: str = ""
) -> list[Problem]:
    """SQL and XSS payloads in every string input of every operation.

    A server error, a database error in the body, a payload echoed unescaped in a
    response a browser renders, or a login that succeeds with a payload is a problem.
    """
    problems = []
    for operation in ops:
        for target in operation.fields:
            for payload in (*SQL_PAYLOADS, *XSS_PAYLOADS):
                answer = _send(
                    client, operation, token=token, **_placed(operation, target, payload)
                )
                problems += _judge_injection(operation, target.name, payload, answer, login)
    return problems


def _placed(operation: Operation, target: Field, payload: str) -> dict[str, Any]:
    if target.location == "path":
        return {"path_values": {target.name: payload}}
    if target.location == "query":
        return {"query": {target.name: payload}}
    bodies = [body for body in operation.bodies if target.name in body] or list(operation.bodies)
    return {"body": {**(bodies[0] if bodies else {}), target.name: payload}}


def _judge_injection(
    operation: Operation, name: str, payload: str, answer: httpx.Response | str, login: str
) -> list[Problem]:
    if isinstance(answer, str):
        verdicts = [("injection-no-answer", Severity.HIGH, answer)]
    else:
        verdicts = _verdicts(answer, payload, login_attempt=operation.key == login)
    return [
        Problem(check, severity, operation.key, detail, name, payload)
        for check, severity, detail in verdicts
    ]


def _verdicts(
    answer: httpx.Response, payload: str, login_attempt: bool
) -> list[tuple[str, Severity, str]]:
    found = []
    if answer.status_code >= 500:
        found.append(("injection-server-error", Severity.HIGH, f"answered {answer.status_code}"))
    if DATABASE_ERRORS.search(answer.text):
        found.append(("sql-error-disclosed", Severity.HIGH, "a database error reached the client"))
    if login_attempt and answer.is_success and payload in SQL_PAYLOADS:
        found.append(("sql-injection-login", Severity.CRITICAL, "logged in with an SQL payload"))
    if payload in XSS_PAYLOADS and payload in answer.text:
        kind = answer.headers.get("content-type", "none")
        if "json" not in kind:
            detail = f"the payload came back unescaped as {kind}"
            found.append(("reflected-xss", Severity.HIGH, detail))
        elif answer.headers.get("x-content-type-options", "").lower() != "nosniff":
            detail = "the payload came back in JSON a browser may sniff as HTML (no nosniff)"
            found.append(("reflected-xss-sniffable", Severity.MEDIUM, detail))
    return found


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, read (not verified) to forge look-alikes from."""
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError) as error:
        raise ValueError(f"not a JWT: {error}") from None
    if not isinstance(claims, dict):
        raise ValueError("not a JWT: the payload is not an object")
    return claims


def _segment(data: Mapping[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forged_tokens(
    valid: str, secret: str | None, algorithm: str
) -> tuple[dict[str, str | None], list[str]]:
    """Bad tokens modelled on a valid one, and which kinds could not be made (no key)."""
    claims = token_claims(valid)
    now = int(time.time())
    live = {**claims, "iat": now, "exp": now + 600}
    header, _payload, signature = valid.split(".")
    tokens: dict[str, str | None] = {
        "missing": None,
        "malformed": "not-a-jwt",
        "tampered": f"{header}.{_segment({**claims, 'role': 'admin', 'forged': True})}.{signature}",
        "alg=none": f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(live)}.",
        "wrong-key": jwt.encode(live, secrets.token_urlsafe(48), algorithm=algorithm),
    }
    if not secret:
        return tokens, ["expired and other-algorithm tokens: the signing key is not known"]
    expired = {**claims, "iat": now - 7200, "exp": now - 3600}
    tokens["expired"] = jwt.encode(expired, secret, algorithm=algorithm)
    other = "HS512" if algorithm != "HS512" else "HS384"
    tokens["other-algorithm"] = jwt.encode(live, secret, algorithm=other)
    return tokens, []


def authentication(
    client: httpx.Client,
    ops: Sequence[Operation],
    tokens: Mapping[str, str | None],
    public: Iterable[str],
) -> list[Problem]:
    """Every operation not public must answer 401 to each missing or bad token."""
    open_ops = set(public)
    problems = []
    for operation in ops:
        if operation.key in open_ops:
            continue
        for kind, token in tokens.items():
            answer = _send(client, operation, token=token)
            status = answer if isinstance(answer, str) else str(answer.status_code)
            if status != "401":
                accepted = not isinstance(answer, str) and answer.is_success
                severity = Severity.CRITICAL if accepted else Severity.HIGH
                detail = f"answered {status} to a {kind} token instead of 401"
                problems.append(Problem("authentication-bypass", severity, operation.key, detail))
    return problems


def object_authorization(
    client: httpx.Client,
    ops: Sequence[Operation],
    *,
    owner: str,
    intruder: str,
    resources: Mapping[str, str],
    public: Iterable[str],
) -> list[Problem]:
    """A second account calls every operation with the first account's ids.

    Reading or acting on them, seeing them in a listing, or changing them is a problem.
    """
    open_ops = set(public)
    readable = [
        op
        for op in ops
        if op.method == "get" and op.path_parameters and set(op.path_parameters) <= set(resources)
    ]
    before = {
        op.key: _json(request(client, op, token=owner, path_values=resources)) for op in readable
    }
    problems = []
    for operation in ops:
        if operation.key in open_ops or not set(operation.path_parameters) <= set(resources):
            continue
        answer = request(client, operation, token=intruder, path_values=resources)
        problems += _intrusion(operation, answer, resources, list(before.values()))
    for op in readable:
        if _json(request(client, op, token=owner, path_values=resources)) != before[op.key]:
            detail = "another account changed this account's resource"
            problems.append(
                Problem("broken-object-authorization", Severity.CRITICAL, op.key, detail)
            )
    return problems


def _intrusion(
    operation: Operation, answer: httpx.Response, resources: Mapping[str, str], owned: list[Any]
) -> list[Problem]:
    if operation.path_parameters and answer.is_success:
        ids = ", ".join(f"{name}={resources[name]}" for name in operation.path_parameters)
        detail = f"another account's {ids} answered {answer.status_code} (expected 403 or 404)"
        return [Problem("broken-object-authorization", Severity.CRITICAL, operation.key, detail)]
    if answer.is_success and any(_contains(_json(answer), item) for item in owned if item):
        detail = "another account's resource appears in this account's response"
        return [Problem("broken-object-authorization", Severity.CRITICAL, operation.key, detail)]
    return []


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text


def _contains(document: Any, item: Any) -> bool:
    if document == item:
        return True
    if isinstance(document, dict):
        return any(_contains(value, item) for value in document.values())
    if isinstance(document, list):
        return any(_contains(value, item) for value in document)
    return False


def cors(
    client: httpx.Client, ops: Sequence[Operation], allowed_origin: str | None
) -> tuple[list[Problem], list[str]]:
    """No preflight or request from a disallowed origin is granted; the allowed one is."""
    problems = []
    for operation in ops:
        url = _concrete(operation)
        asking = {
            "Origin": EVIL_ORIGIN,
            "Access-Control-Request-Method": operation.method.upper(),
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        preflight = client.options(url, headers=asking)
        problems += _granted(operation, preflight, "preflight")
        if operation.method == "get":
            simple = client.get(url, headers={"Origin": EVIL_ORIGIN})
            problems += _granted(operation, simple, "request")
    return problems, _cors_control(client, ops, allowed_origin)


def _concrete(operation: Operation, path_values: Mapping[str, str] | None = None) -> str:
    """The operation's path with its parameters filled in (URL-encoded)."""
    values = {**operation.path_samples, **(path_values or {})}
    return re.sub(
        r"{([^}]+)}", lambda m: quote(str(values.get(m.group(1), "1")), safe=""), operation.path
    )


def _granted(operation: Operation, answer: httpx.Response, kind: str) -> list[Problem]:
    origin = answer.headers.get("access-control-allow-origin")
    if origin not in (EVIL_ORIGIN, "*"):
        return []
    credentials = answer.headers.get("access-control-allow-credentials", "").lower() == "true"
    severity = Severity.CRITICAL if credentials else Severity.HIGH
    detail = f"a {kind} from {EVIL_ORIGIN} was allowed (Access-Control-Allow-Origin: {origin})"
    return [
        Problem("cors-disallowed-origin", severity, operation.key, detail, "Origin", EVIL_ORIGIN)
    ]


def _cors_control(client: httpx.Client, ops: Sequence[Operation], allowed: str | None) -> list[str]:
    if not allowed or not ops:
        return ["CORS: no allowed origin to compare with, so a refusal proves little"]
    answer = client.options(
        _concrete(ops[0]),
        headers={"Origin": allowed, "Access-Control-Request-Method": ops[0].method.upper()},
    )
    if answer.headers.get("access-control-allow-origin") != allowed:
        return [f"CORS: the allowed origin {allowed} was refused too, so a refusal proves little"]
    return []


def rate_limit(
    client: httpx.Client, path: str, limit: int, token: str | None = None
) -> list[Problem]:
    """More than ``limit`` requests in a row must get a 429 with Retry-After."""
    endpoint = f"GET {path}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    attempts = limit + 5
    for _ in range(attempts):
        answer = client.get(path, headers=headers)
        if answer.status_code == 429:
            if "retry-after" in answer.headers:
                return []
            detail = "answered 429 without Retry-After"
            return [Problem("rate-limit-no-retry-after", Severity.MEDIUM, endpoint, detail)]
    scope = "user" if token else "address"
    detail = f"{attempts} requests in a row were all served (per-{scope} limit {limit})"
    return [Problem("rate-limit-missing", Severity.HIGH, endpoint, detail)]
