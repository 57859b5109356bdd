"""Render: team-owned Markdown + Jinja2 templates → Markdown text, sandboxed, escaped, bounded."""

from __future__ import annotations

import os
import re
import string
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence, Sized
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from types import TracebackType
from typing import Any, Final, cast
from urllib.parse import quote as url_quote
from zoneinfo import ZoneInfo

from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError, nodes
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.loaders import split_template_path
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from jinja2.visitor import NodeTransformer

from worker.errors import TemplateError
from worker.snapshot import Person

EM_DASH: Final = "—"
TEMPLATE_SUFFIX: Final = ".md.j2"


@dataclass(frozen=True)
class Limits:
    """What one render may cost. Every bound ends the render with a TemplateError."""

    max_source_bytes: int = 100_000  # one template file
    max_output_chars: int = 1_000_000  # the rendered Markdown
    max_value_len: int = 1_000_000  # any string or list built by `*`, `+`, `~`, filters
    max_int_bits: int = 4_096  # integers built by `*` and `**`
    max_range: int = 10_000  # `range()`, `|batch`, `|slice`
    max_loop_iterations: int = 200_000  # all `{% for %}` iterations of one render together
    max_format_width: int = 1_000  # widths and precisions in `%` and `format`
    render_seconds: float = 1.0  # checked on every loop step, call, attribute and operator


DEFAULT_LIMITS: Final = Limits()


class MarkdownSafe(str):
    """Markdown trusted as it is: `{{ … }}` prints it without escaping (see `|md_safe`)."""

    __slots__ = ()


# --- escaping ---------------------------------------------------------------------------

_ALWAYS: Final = re.compile(r"[\\`*\[\]<>|~]")
_ENTITY: Final = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_UNDERSCORES: Final = re.compile(r"_+")
# What opens a block at the start of a line: a list/rule/setext marker, an ATX heading,
# an ordered-list number (only when followed by a space or the end of the line).
_LINE_START: Final = re.compile(
    r"^(?P<mark>[+=-]|#(?=#{0,5}(?:[ \t]|$)))|^(?P<number>\d{1,9})(?P<dot>[.)])(?=[ \t]|$)",
    re.MULTILINE,
)
_WHITESPACE: Final = re.compile(r"\s+")


def md_escape(text: str) -> str:
    """Make text inert in CommonMark + GFM: it reads the same and builds no structure.

    Backslash-escapes what opens links, images, emphasis, code, tables, HTML and
    autolinks anywhere, and what opens a heading, list, quote or rule at the start of a
    line (every line of `text` is treated as a possible line start, because a template may
    place it after `- ` or `> `). Leading spaces of each line are dropped so that no
    indented code block can appear; `_` inside a word is left alone.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.lstrip(" \t") for line in text.split("\n"))
    text = _ALWAYS.sub(r"\\\g<0>", text)
    text = _ENTITY.sub(r"\\&", text)
    text = _UNDERSCORES.sub(_escape_underscores, text)
    text = _LINE_START.sub(_escape_line_start, text)
    if text.endswith("!"):  # "![" would open an image if the template puts a link next
        text = text[:-1] + "\\!"
    return text


def _escape_underscores(match: re.Match[str]) -> str:
    text, start, end = match.string, match.start(), match.end()
    inside_word = start > 0 and end < len(text) and text[start - 1].isalnum()
    if inside_word and text[end].isalnum():
        return match.group(0)
    return "\\_" * (end - start)


def _escape_line_start(match: re.Match[str]) -> str:
    if match.group("mark"):
        return "\\" + match.group("mark")
    return f"{match.group('number')}\\{match.group('dot')}"


def oneline(text: object) -> str:
    """Collapse every run of whitespace (newlines too) into one space: for table cells."""
    if text is None:
        return EM_DASH
    flat = _WHITESPACE.sub(" ", str(text)).strip()
    return MarkdownSafe(flat) if isinstance(text, MarkdownSafe) else flat


def md_safe(text: object) -> MarkdownSafe:
    return MarkdownSafe(str(text))


# --- helpers available to templates ------------------------------------------------------

_NOTION_USER_ID: Final = re.compile(
    r"^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$",
    re.IGNORECASE,
)
_HTTP_URL: Final = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)
_WHEN_FORMATS: Final = {
    "datetime": "%Y-%m-%d %H:%M %Z",
    "date": "%Y-%m-%d",
    "time": "%H:%M",
    "iso": "",
}
# (days, hours, minutes, separator) per locale.
_DURATION_UNITS: Final = {
    "en": ("{} d", "{} h", "{} min", " "),
    "ja": ("{}日", "{}時間", "{}分", ""),
}
# Notion keeps times to the minute (its own are rounded down), so a duration measured from
# them is only good to the minute: seconds would be noise, and "0 s" plainly wrong.
_UNDER_A_MINUTE: Final = {"en": "less than a minute", "ja": "1分未満"}


@dataclass(frozen=True)
class Helpers:
    """The functions templates call; bound to the set's locale and time zone."""

    locale: str
    timezone: ZoneInfo

    def when(self, moment: datetime | None, style: str = "datetime") -> MarkdownSafe:
        """A moment in the configured time zone: `2026-11-28 14:05 JST`; None → em dash.

        `style` is `datetime` (default), `date`, `time` (`14:05`) or `iso`.
        """
        if moment is None:
            return MarkdownSafe(EM_DASH)
        if not isinstance(moment, datetime):
            raise TypeError(f"when() takes a date and time, not {type(moment).__name__}")
        if style not in _WHEN_FORMATS:
            raise ValueError(f"when() style {style!r} is not one of {', '.join(_WHEN_FORMATS)}")
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        local = aware.astimezone(self.timezone)
        if style == "iso":
            return MarkdownSafe(local.isoformat(timespec="minutes"))
        return MarkdownSafe(local.strftime(_WHEN_FORMATS[style]))

    def duration(self, value: timedelta | float | None) -> MarkdownSafe:
        """`1 h 25 min` (`1時間25分` in ja), whole minutes; under a minute (zero too) `less
        than a minute` (`1分未満`), never seconds; None → em dash."""
        if value is None:
            return MarkdownSafe(EM_DASH)
        if isinstance(value, bool) or not isinstance(value, timedelta | int | float):
            raise TypeError(f"duration() takes seconds or a timedelta, not {type(value).__name__}")
        seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
        sign = "-" if seconds <= -60 else ""
        return MarkdownSafe(sign + _duration_words(abs(seconds), self.locale))

    def mention(self, person: Person | None) -> MarkdownSafe:
        """`[Name](notion-user:<id>)`, which becomes a Notion user mention; None → em dash.
        A bot, or a user Notion showed us only by id, is named in plain text: Notion would
        refuse the mention (`Person.nameable`)."""
        if person is None:
            return MarkdownSafe(EM_DASH)
        if not isinstance(person, Person):
            raise TypeError(f"mention() takes a person, not {type(person).__name__}")
        name = md_escape(oneline(person.name or person.email or "Notion user"))
        if not person.nameable or not _NOTION_USER_ID.match(person.id):
            return MarkdownSafe(name)
        return MarkdownSafe(f"[{name}](notion-user:{person.id})")

    def mentions(self, people: Iterable[Person] | None, empty: str = EM_DASH) -> MarkdownSafe:
        """Mentions of several people, joined with `, ` (`、` in ja); none → `empty`."""
        shown = [self.mention(person) for person in people or ()]
        if not shown:
            return MarkdownSafe(md_escape(empty))
        return MarkdownSafe(("、" if self.locale == "ja" else ", ").join(shown))

    def quote(self, text: object) -> MarkdownSafe:
        """A Markdown block quote of (multi-line) text, escaped; empty text → `> —`."""
        body = "" if text is None else str(text)
        if not body.strip():
            return MarkdownSafe(f"> {EM_DASH}")
        lines = md_escape(body.strip("\n")).split("\n")
        return MarkdownSafe("\n".join(f"> {line}" if line else ">" for line in lines))

    def link(self, label: object, url: str | None) -> MarkdownSafe:
        """`[label](url)` for an http(s) URL; without a usable URL, just the label."""
        text = md_escape(oneline(label)) or md_escape(url or EM_DASH)
        if not isinstance(url, str) or not _HTTP_URL.match(url):
            return MarkdownSafe(text)
        destination = url_quote(url, safe=":/?#[]@!$&'*+,;=%-._~")
        return MarkdownSafe(f"[{text}]({destination})")

    def globals(self) -> dict[str, Callable[..., MarkdownSafe]]:
        return {
            "when": self.when,
            "duration": self.duration,
            "mention": self.mention,
            "mentions": self.mentions,
            "quote": self.quote,
            "link": self.link,
        }


def _duration_words(seconds: float, locale: str) -> str:
    """`2 d 5 min`, `1 h`, `less than a minute` (ja `2日5分`): whole minutes, cut down."""
    day, hour, minute, separator = _DURATION_UNITS.get(locale, _DURATION_UNITS["en"])
    total_s = int(seconds)
    if total_s < 60:
        return _UNDER_A_MINUTE.get(locale, _UNDER_A_MINUTE["en"])
    days, rest = divmod(total_s, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    parts = [unit.format(n) for unit, n in ((day, days), (hour, hours), (minute, minutes)) if n]
    return separator.join(parts)


# --- bounds -----------------------------------------------------------------------------


class _LimitError(Exception):
    """A render went past one of its `Limits`."""


@dataclass
class _Budget:
    """What is left of one render's allowance (one per `TemplateSet.render` call)."""

    limits: Limits
    deadline: float
    iterations_left: int

    @classmethod
    def start(cls, limits: Limits) -> _Budget:
        # Elapsed CPU time, not domain time: the monotonic clock is the right one here.
        return cls(limits, time.monotonic() + limits.render_seconds, limits.max_loop_iterations)

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise _LimitError(
                f"rendering took longer than {self.limits.render_seconds:g} s "
                "(a loop or macro that does too much?)"
            )

    def count_iteration(self) -> None:
        self.iterations_left -= 1
        if self.iterations_left < 0:
            raise _LimitError(
                f"loops ran more than {self.limits.max_loop_iterations} times in one render"
            )
        self.check_time()


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _check_time() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.check_time()


def _check_len(size: int, what: str, limits: Limits) -> None:
    if size > limits.max_value_len:
        raise _LimitError(
            f"{what} would build a value of {size} characters or items; "
            f"the limit is {limits.max_value_len}"
        )


def _check_mul(left: Any, right: Any, limits: Limits) -> None:
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | bytes | list | tuple) and isinstance(times, int):
            _check_len(len(sequence) * times, "`*`", limits)
    if isinstance(left, int) and isinstance(right, int):
        _check_bits(left.bit_length() + right.bit_length(), "`*`", limits)


def _check_pow(left: Any, right: Any, limits: Limits) -> None:
    if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        _check_bits(left.bit_length() * right, "`**`", limits)


def _check_bits(bits: int, what: str, limits: Limits) -> None:
    if bits > limits.max_int_bits:
        raise _LimitError(
            f"{what} would build a number of about {bits} bits; the limit is {limits.max_int_bits}"
        )


def _check_add(left: Any, right: Any, limits: Limits) -> None:
    if isinstance(left, Sized) and isinstance(right, Sized):
        _check_len(len(left) + len(right), "`+`", limits)


_PERCENT_SPEC: Final = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _check_percent_format(template: Any, limits: Limits) -> None:
    if not isinstance(template, str):
        return
    for match in _PERCENT_SPEC.finditer(template):
        for number in match.groups():
            _check_width(number, limits)


def _check_width(number: str | None, limits: Limits) -> None:
    if number == "*":
        raise _LimitError("`*` widths in format strings are not supported in templates")
    if number is not None and int(number) > limits.max_format_width:
        raise _LimitError(
            f"a format width of {number} is larger than the limit {limits.max_format_width}"
        )


def _check_brace_format(template: str, limits: Limits) -> None:
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format will report the malformed string itself
    for _, _, spec, _ in fields:
        if spec and "{" in spec:
            raise _LimitError("nested fields in format strings are not supported in templates")
        for number in re.findall(r"\d+", spec or ""):
            _check_width(number, limits)


def _check_mod(left: Any, _right: Any, limits: Limits) -> None:
    _check_percent_format(left, limits)


_BINOP_CHECKS: Final[dict[str, Callable[[Any, Any, Limits], None]]] = {
    "*": _check_mul,
    "**": _check_pow,
    "+": _check_add,
    "%": _check_mod,
}


def _string_method(func: Any) -> tuple[str | bytes, str] | None:
    """(the string, the method name) when `func` is a bound method of a str or bytes."""
    target = getattr(func, "__wrapped__", func)  # the sandbox wraps str.format
    owner = getattr(target, "__self__", None)
    if isinstance(owner, str | bytes):
        return owner, str(getattr(target, "__name__", ""))
    return None


def _check_string_call(
    owner: str | bytes, method: str, args: Sequence[Any], limits: Limits
) -> None:
    """Refuse the string methods that can build far more than they are given."""
    what = f"{method}()"
    if method in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        _check_len(args[0], what, limits)
    elif method == "expandtabs" and args and isinstance(args[0], int):
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        _check_len(len(owner) + tabs * args[0], what, limits)
    elif method == "replace" and len(args) >= 2 and isinstance(args[0], type(owner)):
        _check_replace(owner, args, limits)
    elif method in ("format", "format_map") and isinstance(owner, str):
        _check_brace_format(owner, limits)
    elif method == "join" and args and isinstance(args[0], Sized):
        _check_len(len(owner) * len(args[0]), what, limits)


def _check_replace(owner: Any, args: Sequence[Any], limits: Limits) -> None:
    old, new = args[0], args[1]
    if not isinstance(new, type(owner)):
        return
    count = owner.count(old) if old else len(owner) + 1
    if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
        count = min(count, args[2])
    _check_len(len(owner) + count * (len(new) - len(old)), "replace()", limits)


def _materialized(args: tuple[Any, ...], method: str) -> tuple[Any, ...]:
    """`join` gets a list rather than a generator, so that its size can be checked first."""
    if (
        method == "join"
        and args
        and not isinstance(args[0], Sized)
        and isinstance(args[0], Iterable)
    ):
        return (list(args[0]), *args[1:])
    return args


# --- bounded filters ----------------------------------------------------------------------


FilterCheck = Callable[[list[Any], dict[str, Any], Limits], None]


def _arg(args: list[Any], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _check_center(args: list[Any], kwargs: dict[str, Any], limits: Limits) -> None:
    width = _arg(args, kwargs, 1, "width")
    if isinstance(width, int):
        _check_len(width, "|center", limits)


def _check_indent(args: list[Any], kwargs: dict[str, Any], limits: Limits) -> None:
    text = str(args[0]) if args else ""
    width = _arg(args, kwargs, 1, "width")
    size = width if isinstance(width, int) else len(str(width or ""))
    _check_len(len(text) + (text.count("\n") + 1) * size, "|indent", limits)


def _check_replace_filter(args: list[Any], kwargs: dict[str, Any], limits: Limits) -> None:
    value, old, new = args[0], _arg(args, kwargs, 1, "old"), _arg(args, kwargs, 2, "new")
    count = _arg(args, kwargs, 3, "count")
    if isinstance(value, str) and isinstance(old, str) and isinstance(new, str):
        _check_replace(value, [old, new, -1 if count is None else count], limits)


def _check_format_filter(args: list[Any], _kwargs: dict[str, Any], limits: Limits) -> None:
    _check_percent_format(args[0] if args else "", limits)


def _check_count(args: list[Any], kwargs: dict[str, Any], limits: Limits) -> None:
    count = _arg(args, kwargs, 1, "linecount") or _arg(args, kwargs, 1, "slices")
    if isinstance(count, int) and count > limits.max_range:
        raise _LimitError(f"a batch or slice count above {limits.max_range}")


def _check_join(args: list[Any], kwargs: dict[str, Any], limits: Limits) -> None:
    separator = _arg(args, kwargs, 1, "d") or ""
    if args and isinstance(args[0], Sized):
        _check_len(len(str(separator)) * len(args[0]), "|join", limits)


# Per filter: a check of its arguments (the value first) before it runs.
_FILTER_CHECKS: Final[dict[str, FilterCheck]] = {
    "center": _check_center,
    "indent": _check_indent,
    "replace": _check_replace_filter,
    "format": _check_format_filter,
    "batch": _check_count,
    "slice": _check_count,
    "join": _check_join,
}


def _bounded_filter(
    original: Callable[..., Any], check: FilterCheck, limits: Limits
) -> Callable[..., Any]:
    # `wraps` copies `jinja_pass_arg`, so Jinja still passes the environment or context.
    skip = 1 if hasattr(original, "jinja_pass_arg") else 0

    @wraps(original)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        values = list(args[skip:])
        if values and not isinstance(values[0], Sized) and isinstance(values[0], Iterable):
            values[0] = list(values[0])  # a generator: measure it once, then pass it on
        check(values, kwargs, limits)
        return original(*args[:skip], *values, **kwargs)

    return bounded


# --- the environment ----------------------------------------------------------------------

_LOOP_GUARD: Final = "_loop_guard"
_SIZE_GUARD: Final = "_size_guard"


class _Guards(NodeTransformer):
    """Routes every `{% for %}` through the loop budget and every `~` through a size check."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = cast(nodes.For, self.generic_visit(node))
        node.iter = nodes.Filter(node.iter, _LOOP_GUARD, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = cast(nodes.Concat, self.generic_visit(node))
        return nodes.Filter(node, _SIZE_GUARD, [], [], None, None, lineno=node.lineno)


class _Undefined(StrictUndefined):
    """StrictUndefined whose messages name the variable or attribute plainly."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        if self._undefined_obj is missing:
            return (
                f"undefined variable {self._undefined_name!r} "
                "(templates/README.md lists the variables)"
            )
        owner = type(self._undefined_obj).__name__
        if isinstance(self._undefined_obj, Mapping):
            return f"undefined key or attribute {self._undefined_name!r} of {owner}"
        return f"undefined attribute {self._undefined_name!r} of {owner}"


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox plus Markdown escaping and cooperative bounds on time and size."""

    intercepted_binops = frozenset(_BINOP_CHECKS)

    def __init__(self, loader: BaseLoader, limits: Limits, helpers: Helpers) -> None:
        self.limits = limits
        self.helpers = helpers
        super().__init__(
            loader=loader,
            undefined=_Undefined,
            autoescape=False,
            finalize=self._finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=True,
        )
        self.globals.pop("lipsum", None)
        self.globals["range"] = self._range
        self.globals.update(helpers.globals())
        for name, check in _FILTER_CHECKS.items():
            self.filters[name] = _bounded_filter(self.filters[name], check, limits)
        self.filters.update(
            md_safe=md_safe,
            safe=md_safe,
            oneline=oneline,
            **{_LOOP_GUARD: self._loop_guard, _SIZE_GUARD: self._size_guard},
        )

    def _finalize(self, value: object) -> str:
        """What every `{{ … }}` prints: Markdown-escaped unless trusted."""
        if isinstance(value, MarkdownSafe):
            return value
        if value is None:
            return EM_DASH
        if isinstance(value, datetime):
            return self.helpers.when(value)
        if isinstance(value, timedelta):
            return self.helpers.duration(value)
        if isinstance(value, Person):
            return self.helpers.mention(value)
        if isinstance(value, tuple | list) and value and all(isinstance(p, Person) for p in value):
            return self.helpers.mentions(value)
        return md_escape(str(value))

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = cast(nodes.Template, _Guards().visit(super()._parse(source, name, filename)))
        tree.set_environment(self)
        return tree

    def _range(self, *args: int) -> range:
        numbers = range(*args)
        if len(numbers) > self.limits.max_range:
            raise _LimitError(
                f"range() of {len(numbers)} numbers; the limit is {self.limits.max_range}"
            )
        return numbers

    def _loop_guard(self, iterable: Iterable[Any]) -> Iterator[Any]:
        budget = _BUDGET.get()
        for item in iterable:
            if budget is not None:
                budget.count_iteration()
            yield item

    def _size_guard(self, value: Any) -> Any:
        if isinstance(value, Sized):
            _check_len(len(value), "`~`", self.limits)
        return value

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _check_time()
        method = _string_method(obj)
        if method is not None:
            args = _materialized(args, method[1])
            _check_string_call(method[0], method[1], args, self.limits)
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_time()
        _BINOP_CHECKS[operator](left, right, self.limits)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check_time()
        return super().getitem(obj, argument)


# --- loading ------------------------------------------------------------------------------


class _LoadError(Exception):
    """A template file exists but cannot be used (too large, not UTF-8, outside the set)."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(problem)
        self.name = name
        self.problem = problem


class _BoundedLoader(BaseLoader):
    """Reads `<root>/<name>`, refusing files above the size cap before reading them."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self.root.joinpath(*split_template_path(template))
        try:
            stat = path.stat()
        except OSError as exc:
            raise TemplateNotFound(template) from exc
        if not path.is_file():
            raise TemplateNotFound(template)
        if not path.resolve().is_relative_to(self.root):
            raise _LoadError(template, "is a link to a file outside the template folder")
        if stat.st_size > self.max_bytes:
            raise _LoadError(
                template,
                f"is {stat.st_size} bytes; a template may be at most {self.max_bytes} bytes",
            )
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise _LoadError(template, f"is not UTF-8 text ({exc.reason})") from exc
        mtime = stat.st_mtime_ns

        def uptodate() -> bool:
            try:
                return path.stat().st_mtime_ns == mtime
            except OSError:
                return False

        return source, str(path), uptodate


_LOCALE: Final = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class TemplateSet:
    """The templates of one locale (`<templates_dir>/<locale>/*.md.j2`), ready to render."""

    templates_dir: Path
    locale: str
    root: Path
    limits: Limits
    helpers: Helpers
    _env: _Environment = field(repr=False, compare=False)

    @classmethod
    def load(
        cls,
        templates_dir: Path,
        locale: str,
        *,
        timezone: ZoneInfo | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> TemplateSet:
        """Point at `<templates_dir>/<locale>/`; raises TemplateError if it is no folder.

        Templates are read and compiled on first use (and again when the file changes).
        """
        if not _LOCALE.match(locale):
            raise TemplateError(locale, None, "a locale is a folder name such as en or ja")
        try:
            root = (templates_dir / locale).resolve()
            found = root.is_dir()
        except (OSError, RuntimeError):  # unreadable, or a symlink loop
            found = False
        if not found:
            raise TemplateError(
                f"{locale}/",
                None,
                f"there is no template folder {templates_dir / locale} "
                "(check TEMPLATES_DIR and LOCALE; copy the bundled templates/ to start)",
            )
        helpers = Helpers(locale, timezone or ZoneInfo("UTC"))
        env = _Environment(_BoundedLoader(root, limits.max_source_bytes), limits, helpers)
        return cls(templates_dir, locale, root, limits, helpers, env)

    def names(self) -> list[str]:
        """Every `*.md.j2` file of the set (subfolders included), as render() takes them."""
        return sorted(
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob(f"*{TEMPLATE_SUFFIX}")
            if path.is_file()
        )

    def display_name(self, name: str) -> str:
        """How errors name a template: relative to TEMPLATES_DIR, e.g. `en/timeline.md.j2`."""
        return f"{self.locale}/{name}"

    def render(self, name: str, context: Mapping[str, object]) -> str:
        """Render `name` with `context` (plus the helpers). Raises only TemplateError."""
        token = _BUDGET.set(_Budget.start(self.limits))
        try:
            return self._render(name, context)
        except TemplateError:
            raise
        except Exception as exc:  # every failure of a template becomes one error type
            raise self._error(exc, name) from exc
        finally:
            _BUDGET.reset(token)

    def _render(self, name: str, context: Mapping[str, object]) -> str:
        try:
            template = self._env.get_template(name)
        except TemplateNotFound as exc:
            if exc.name != name:
                raise  # an {% extends %} or {% import %} at compile time: has a line
            raise TemplateError(
                self.display_name(name),
                None,
                f"no such template in {self.templates_dir / self.locale}",
            ) from exc
        stream = cast(Generator[str, None, None], template.generate(context))
        parts: list[str] = []
        size = 0
        for chunk in stream:
            size += len(chunk)
            if size > self.limits.max_output_chars:
                # Thrown into the template, so that the error names the line writing it.
                too_large = _LimitError(
                    f"the output is longer than {self.limits.max_output_chars} characters"
                )
                stream.throw(too_large)
                raise too_large
            parts.append(chunk)
        return "".join(parts)

    def _error(self, exc: Exception, name: str) -> TemplateError:
        if isinstance(exc, TemplateSyntaxError):
            template = self.display_name(exc.name) if exc.name else self.display_name(name)
            return TemplateError(template, exc.lineno, f"syntax error: {exc.message}")
        if isinstance(exc, _LoadError):
            return TemplateError(self.display_name(exc.name), None, exc.problem)
        where = _template_frame(exc.__traceback__, self.root)
        template = self.display_name(where[0] if where else name)
        return TemplateError(template, where[1] if where else None, _describe(exc))


def _template_frame(tb: TracebackType | None, root: Path) -> tuple[str, int] | None:
    """The innermost frame of template code: (name within the set, template line)."""
    prefix = str(root) + os.sep
    found: tuple[str, int] | None = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(prefix):
            found = (Path(filename).relative_to(root).as_posix(), tb.tb_lineno)
        tb = tb.tb_next
    return found


def _describe(exc: Exception) -> str:
    if isinstance(exc, UndefinedError):
        return exc.message or "undefined value"
    if isinstance(exc, SecurityError):
        return f"not allowed in a template: {exc}"
    if isinstance(exc, TemplateNotFound):
        return f"refers to {exc.name!r}, which is not in the template folder"
    if isinstance(exc, _LimitError):
        return f"too costly: {exc}"
    if isinstance(exc, RecursionError):
        return "too deeply nested (a macro or include that calls itself?)"
    if isinstance(exc, MemoryError):
        return "too costly: ran out of memory"
    return f"{type(exc).__name__}: {exc}"
