"""Notion emulator: the stored objects — plain, JSON-friendly dataclasses (times in epoch ms)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass(slots=True)
class PageRec:
    """A page: a row of a data source or a page under a page (then also a `child_page` block).

    `properties` holds stored values by property id; a non-row page has only "title".
    """

    id: str
    parent: Json
    properties: Json
    created_ms: int
    edited_ms: int
    created_by: str
    edited_by: str
    icon: Json | None = None
    cover: Json | None = None
    in_trash: bool = False
    is_locked: bool = False
    children: list[str] = field(default_factory=list)
    row_number: int = 0


@dataclass(slots=True)
class BlockRec:
    """A content block; `content` is the response form of its type's object (no children)."""

    id: str
    type: str
    content: Json
    parent: Json
    created_ms: int
    edited_ms: int
    created_by: str
    edited_by: str
    in_trash: bool = False
    children: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DatabaseRec:
    """A database container (2025-09-03): title, parent and its data sources, no schema."""

    id: str
    parent: Json
    title: list[Json]
    description: list[Json]
    created_ms: int
    edited_ms: int
    created_by: str
    edited_by: str
    is_inline: bool = False
    icon: Json | None = None
    cover: Json | None = None
    in_trash: bool = False
    is_locked: bool = False
    data_sources: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DataSourceRec:
    """A table of a database: the property schema (response form, in order) and its rows."""

    id: str
    database_id: str
    title: list[Json]
    description: list[Json]
    properties: list[Json]
    created_ms: int
    edited_ms: int
    created_by: str
    edited_by: str
    icon: Json | None = None
    cover: Json | None = None
    in_trash: bool = False
    rows: list[str] = field(default_factory=list)
    next_row_number: int = 1
