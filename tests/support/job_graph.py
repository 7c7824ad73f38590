"""Run a workflow's job graph as GitHub would decide it, without running any job.

:func:`simulate` walks the jobs in ``needs`` order: a job whose ``if:`` (default
``success()``) is false is *skipped*; one that runs ends as the test says it ends
(``outcomes``, default success). Its steps' ``if:`` conditions are evaluated the same way
(:func:`step_runs`), so a gate's "fail when a needed job did not pass" step can be
checked against skipped and failed needs. The expression language is the part GitHub's
workflows here use: ``==``, ``!=``, ``&&``, ``||``, ``!``, parentheses, strings, numbers,
``true``/``false``/``null``, contexts (``github.*``, ``inputs.*``, ``needs.<id>.result``,
``needs.*.result``) and ``success() always() failure() cancelled() contains()
startsWith()`` -- string comparison ignoring case, as GitHub's does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Value = Any
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!(),])"
    r"|(?P<name>[A-Za-z_][\w.*-]*))"
)
STATUS_FUNCTIONS = ("success()", "always()", "failure()", "cancelled()")


@dataclass(frozen=True)
class Event:
    """What started the run: ``push`` to a ref, ``workflow_dispatch`` with inputs, or
    ``workflow_call`` (a caller's inputs)."""

    name: str
    ref: str = "refs/heads/main"
    inputs: Mapping[str, Value] = field(default_factory=dict)


def _tokens(text: str) -> list[tuple[str, str]]:
    found, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot read the expression at {text[position:]!r}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Parser:
    """A recursive-descent evaluator over one expression's tokens."""

    def __init__(self, text: str, context: Mapping[str, Value]) -> None:
        self.tokens, self.index, self.context = _tokens(text), 0, context

    def parse(self) -> Value:
        value = self._or()
        if self.index != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.index][1]!r}")
        return value

    def _peek(self) -> str:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else ""

    def _take(self, expected: str = "") -> tuple[str, str]:
        token = self.tokens[self.index]
        if expected and token[1] != expected:
            raise ValueError(f"expected {expected!r}, found {token[1]!r}")
        self.index += 1
        return token

    def _or(self) -> Value:
        return self._chain("||", self._and, lambda left, right: left if truthy(left) else right)

    def _and(self) -> Value:
        return self._chain(
            "&&", self._comparison, lambda left, right: right if truthy(left) else left
        )

    def _chain(
        self, operator: str, operand: Callable[[], Value], combine: Callable[[Value, Value], Value]
    ) -> Value:
        """``operand (operator operand)*``, folded left with ``combine`` (both sides are
        always read: the tokens must be consumed even where the left side decides)."""
        value = operand()
        while self._peek() == operator:
            self._take()
            value = combine(value, operand())
        return value

    def _comparison(self) -> Value:
        value = self._unary()
        while self._peek() in ("==", "!="):
            operator = self._take()[1]
            equal = same(value, self._unary())
            value = equal if operator == "==" else not equal
        return value

    def _unary(self) -> Value:
        if self._peek() == "!":
            self._take()
            return not truthy(self._unary())
        return self._primary()

    def _primary(self) -> Value:
        kind, text = self._take()
        if text == "(":
            value = self._or()
            self._take(")")
            return value
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return float(text)
        if kind != "name":
            raise ValueError(f"unexpected {text!r}")
        if self._peek() == "(":
            return self._call(text)
        return {"true": True, "false": False, "null": None}.get(text, self._lookup(text))

    def _call(self, name: str) -> Value:
        self._take("(")
        arguments: list[Value] = []
        while self._peek() != ")":
            arguments.append(self._or())
            if self._peek() == ",":
                self._take()
        self._take(")")
        return self._function(name, arguments)

    def _function(self, name: str, arguments: Sequence[Value]) -> Value:
        results = list(self.context.get("__needed_results__", []))
        if name == "success":
            return all(result == "success" for result in results)
        if name == "always":
            return True
        if name == "failure":
            return any(result == "failure" for result in results)
        if name == "cancelled":
            return bool(self.context.get("__cancelled__", False))
        if name == "contains":
            haystack, needle = arguments
            if isinstance(haystack, list):
                return any(same(item, needle) for item in haystack)
            return str(needle).lower() in str(haystack).lower()
        if name == "startsWith":
            return str(arguments[0]).lower().startswith(str(arguments[1]).lower())
        raise ValueError(f"unknown function {name}()")

    def _lookup(self, dotted: str) -> Value:
        value: Value = self.context
        parts = dotted.split(".")
        for position, part in enumerate(parts):
            if part == "*":
                rest = ".".join(parts[position + 1 :])
                items = value.values() if isinstance(value, Mapping) else []
                return [_path(item, rest) for item in items]
            value = value.get(part) if isinstance(value, Mapping) else None
        return value


def _path(value: Value, dotted: str) -> Value:
    for part in dotted.split(".") if dotted else []:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def truthy(value: Value) -> bool:
    """GitHub's truthiness: false, 0, '' and null are false."""
    return value not in (False, 0, "", None)


def same(left: Value, right: Value) -> bool:
    """``==`` as GitHub compares: strings ignoring case."""
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    return bool(left == right)


def unwrapped(expression: str) -> str:
    """An ``if:`` without its ``${{ }}``."""
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    return text.strip()


def evaluate(expression: str, context: Mapping[str, Value]) -> Value:
    """The value of an ``if:`` (with or without ``${{ }}``)."""
    return _Parser(unwrapped(expression), context).parse()


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _order(jobs: Mapping[str, Any]) -> list[str]:
    done: list[str] = []
    while len(done) < len(jobs):
        ready = [j for j in jobs if j not in done and all(n in done for n in _needs(jobs[j]))]
        if not ready:
            raise ValueError("the jobs' needs form a cycle")
        done += ready
    return done


def _context(event: Event, needs: Mapping[str, str], declared: Mapping[str, Any]) -> dict[str, Any]:
    inputs = {name: (spec or {}).get("default") for name, spec in declared.items()}
    inputs.update(event.inputs)
    return {
        "github": {"event_name": event.name, "ref": event.ref},
        "inputs": inputs,
        "needs": {job: {"result": result} for job, result in needs.items()},
        "__needed_results__": list(needs.values()),
    }


def workflow_inputs(data: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs a workflow declares (dispatch and call together)."""
    on = data.get("on") or {}
    declared: dict[str, Any] = {}
    for trigger in ("workflow_dispatch", "workflow_call"):
        spec = on.get(trigger) if isinstance(on, Mapping) else None
        declared.update((spec or {}).get("inputs") or {})
    return declared


def simulate(
    data: Mapping[str, Any], event: Event, outcomes: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Each job's result: ``success``, ``failure`` or ``skipped``."""
    jobs, results = data["jobs"], dict[str, str]()
    declared = workflow_inputs(data)
    for job_id in _order(jobs):
        job = jobs[job_id]
        needed = {name: results[name] for name in _needs(job)}
        condition = unwrapped(str(job.get("if", "success()")))
        if not any(function[:-2] in condition for function in STATUS_FUNCTIONS):
            condition = f"success() && ({condition})"
        runs = truthy(evaluate(condition, _context(event, needed, declared)))
        results[job_id] = (outcomes or {}).get(job_id, "success") if runs else "skipped"
    return results


def step_runs(
    data: Mapping[str, Any], job_id: str, step_name: str, event: Event, results: Mapping[str, str]
) -> bool:
    """Whether the step named ``step_name`` of a job that runs would run, given the needed
    jobs' ``results`` (the job's other steps succeeded)."""
    job = data["jobs"][job_id]
    needed = {name: results[name] for name in _needs(job)}
    step = next(s for s in job["steps"] if s.get("name") == step_name)
    condition = str(step.get("if", "success()"))
    context = _context(event, needed, workflow_inputs(data))
    context["__needed_results__"] = ["success"]  # a step's success() is its job's own
    return truthy(evaluate(condition, context))


def can_be_skipped(data: Mapping[str, Any], job_id: str) -> bool:
    """A job with an ``if:``, or one that needs such a job, may not run."""
    job = data["jobs"][job_id]
    return "if" in job or any(can_be_skipped(data, need) for need in _needs(job))


def needs_without_status(data: Mapping[str, Any]) -> list[str]:
    """Jobs that need a job which can be skipped and do not say, with a status function,
    what they want then (without one they are silently skipped with it)."""
    problems = []
    for job_id, job in data["jobs"].items():
        skippable = [need for need in _needs(job) if can_be_skipped(data, need)]
        condition = str(job.get("if", ""))
        if skippable and not any(function[:-2] in condition for function in STATUS_FUNCTIONS):
            problems.append(
                f"{job_id} needs {skippable[0]}, which can be skipped, and its if: has no "
                "status function (always(), !cancelled(), success(), failure())"
            )
    return problems


def deploys_on_its_own(data: Mapping[str, Any]) -> list[str]:
    """A workflow that runs ``invoke deploy`` on a push of its own: it does not wait for
    CI (it must be called by CI after its jobs, or run on ``workflow_run``)."""
    on = data.get("on") or {}
    triggers = set(on) if isinstance(on, Mapping) else {on} if isinstance(on, str) else set(on)
    deploying = [
        job_id
        for job_id, job in data["jobs"].items()
        for step in job.get("steps") or []
        if "invoke deploy" in str(step.get("run", ""))
    ]
    if deploying and "push" in triggers:
        return [f"{deploying[0]} runs invoke deploy on push: CD must wait for CI "
                "(workflow_call after CI's jobs, or workflow_run)"]  # fmt: skip
    return []
