"""Errors: the few error types of the worker, each carrying what a person needs to act."""

from __future__ import annotations

from dataclasses import dataclass


class WorkerError(Exception):
    """Base class: a problem the worker explains in plain words (no traceback needed)."""


@dataclass(frozen=True)
class SettingProblem:
    variable: str
    problem: str
    example: str = ""

    def __str__(self) -> str:
        hint = f" (for example {self.variable}={self.example})" if self.example else ""
        return f"{self.variable}: {self.problem}{hint}"


class ConfigError(WorkerError):
    """Every problem with the settings, reported at once."""

    def __init__(self, problems: list[SettingProblem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the settings have {len(self.problems)} problem(s):\n{lines}")

    @classmethod
    def single(cls, variable: str, problem: str, example: str = "") -> ConfigError:
        return cls([SettingProblem(variable, problem, example)])


class ServiceError(WorkerError):
    """A call to Notion or Slack failed; `retryable` says whether trying later may help."""

    def __init__(
        self,
        service: str,
        operation: str,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        request_id: str = "",
        retryable: bool = False,
        retry_after_s: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        self.service = service
        self.operation = operation
        self.code = code
        self.status = status
        self.request_id = request_id
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        # True when the request may have been carried out although we saw a failure
        # (a timeout or a dropped connection after sending): reconcile before retrying.
        self.outcome_unknown = outcome_unknown
        detail = f" [{code}]" if code else ""
        rid = f" (request id {request_id})" if request_id else ""
        super().__init__(f"{service} {operation} failed{detail}: {message}{rid}")

    @property
    def asked_to_wait(self) -> bool:
        """The service asked us to wait (HTTP 429 or 529 with `Retry-After`): nothing is wrong
        with the request; sending it again after `retry_after_s` is what it wants."""
        return self.status in (429, 529) and self.retry_after_s is not None


class RowError(WorkerError):
    """One Incidents row cannot be understood; the others carry on."""

    def __init__(self, page_id: str, problem: str) -> None:
        self.page_id = page_id
        self.problem = problem
        super().__init__(f"row {page_id}: {problem}")


class TemplateError(WorkerError):
    """A template failed to load or render; names the file, the line and the cause."""

    def __init__(self, template: str, line: int | None, problem: str) -> None:
        self.template = template
        self.line = line
        self.problem = problem
        where = f"{template}, line {line}" if line else template
        super().__init__(f"template {where}: {problem}")


class NotReadyError(WorkerError):
    """An action depends on something not there yet (e.g. the thread); it waits its turn."""


class RowGoneError(WorkerError):
    """The incident's row was moved to the trash: writing to it is pointless."""

    def __init__(self, page_id: str) -> None:
        self.page_id = page_id
        super().__init__(f"the row {page_id} is in the trash")


class PageTrashedError(WorkerError):
    """A page the worker writes to (the timeline) was moved to Notion's trash by someone."""

    def __init__(self, page_id: str, what: str) -> None:
        self.page_id = page_id
        self.what = what
        super().__init__(f"the {what} page {page_id} is in the trash")


class LostLeadershipError(WorkerError):
    """Another replica holds the lease now: stop acting at once."""
