"""Helpers for the few statements written by hand (the report path's hot queries).

SQL is written by hand only where a statement runs for every fault report under the
correlation lock and the ORM's query building costs more than running it. Such modules
build their SQL text from model metadata and these helpers only; every value is a
parameter. (They are exempt from ruff's S608 for that reason: see pyproject.toml.)
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import connection
from django.db.models import Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def tables(*models: type[Model]) -> dict[type[Model], str]:
    return {model: table(model) for model in models}


def placeholders(count: int) -> str:
    """``%s, %s, …`` for an IN list of `count` parameters."""
    return ", ".join(["%s"] * count)


def datetime_param(value: datetime.datetime):
    """A timestamp as the backend stores it (SQLite: naive UTC text), for comparisons."""
    return connection.ops.adapt_datetimefield_value(value)


def datetime_value(value) -> datetime.datetime:
    """A timestamp read by hand-written SQL, as the ORM would give it (aware, UTC)."""
    if isinstance(value, str):  # SQLite without a declared-type converter
        value = parse_datetime(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, datetime.UTC)
    return value


class JoinedQuery:
    """Rows of a model with related rows in the same statement, like ``select_related``, with
    the SQL text built once per process instead of once per call.

    `relations` are ``select_related`` paths through forward foreign keys and reverse
    one-to-one relations; `where` is SQL on the base table's columns, aliased ``t0``. Rows are
    turned into instances with ``Model.from_db`` and the field and backend converters, and
    each related instance (or None) is cached on its parent, so reading the relation runs no
    query. For the one lookup every fault report makes (its workstation with its place,
    network path and hospital) this is a fifth of the ORM's cost.
    """

    def __init__(self, model: type[Model], relations: tuple[str, ...], where: str) -> None:
        self.model, self.where = model, where
        # Each node: (alias, model, parent node index or None, relation to the parent).
        self._nodes: list[tuple[str, type[Model], int | None, Any]] = [("t0", model, None, None)]
        index_of: dict[str, int] = {"": 0}
        for path in relations:
            prefix = ""
            for name in path.split("__"):
                key = f"{prefix}__{name}" if prefix else name
                if key not in index_of:
                    parent = index_of[prefix]
                    relation: Any = self._nodes[parent][1]._meta.get_field(name)
                    index_of[key] = len(self._nodes)
                    self._nodes.append((f"t{len(self._nodes)}", relation.related_model, parent, relation))
                prefix = key
        # Per database vendor: the SQL text and, per node, its attribute names, the converters
        # of the columns that have any (with the column expression they expect), its pk index.
        self._built: dict[str, tuple[str, list[tuple[list[str], list[tuple[int, list, Any]], int]]]] = {}

    def _build(self) -> tuple[str, list[tuple[list[str], list[tuple[int, list, Any]], int]]]:
        quote = connection.ops.quote_name
        select, joins, columns = [], [f"{table(self.model)} t0"], []
        for alias, model, parent, relation in self._nodes:
            fields = list(model._meta.concrete_fields)
            select += [f"{alias}.{quote(str(f.column))}" for f in fields]
            converters = []
            for index, field in enumerate(fields):
                expression = field.get_col(alias)
                found = [*connection.ops.get_db_converters(expression), *field.get_db_converters(connection)]
                if found:
                    converters.append((index, found, expression))
            columns.append(([f.attname for f in fields], converters, fields.index(model._meta.pk)))
            if parent is None:
                continue
            parent_alias = self._nodes[parent][0]
            if relation.concrete:  # forward foreign key: parent.fk_id = child.pk
                on = f"{alias}.{quote(str(model._meta.pk.column))} = {parent_alias}.{quote(relation.column)}"
            else:  # reverse one-to-one: child.fk_id = parent.pk
                parent_pk = relation.model._meta.pk.column
                on = f"{alias}.{quote(relation.field.column)} = {parent_alias}.{quote(parent_pk)}"
            joins.append(f"LEFT JOIN {table(model)} {alias} ON {on}")
        return f"SELECT {', '.join(select)} FROM {' '.join(joins)} WHERE {self.where}", columns

    def fetch(self, params: list) -> list:
        if connection.vendor not in self._built:
            self._built[connection.vendor] = self._build()
        statement, columns = self._built[connection.vendor]
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall()
        return [self._instance(row, columns) for row in rows]

    def _instance(self, row, columns) -> Model:
        objects: list[Model | None] = []
        position = 0
        for (_, model, parent, relation), (attnames, converters, pk_index) in zip(
            self._nodes, columns, strict=True
        ):
            values = list(row[position : position + len(attnames)])
            position += len(attnames)
            for index, field_converters, expression in converters:
                for converter in field_converters:
                    values[index] = converter(values[index], expression, connection)
            instance = (
                model.from_db(connection.alias, attnames, values) if values[pk_index] is not None else None
            )
            objects.append(instance)
            if parent is not None and objects[parent] is not None:
                relation.set_cached_value(objects[parent], instance)
        return objects[0]  # type: ignore[return-value]


_INSERTS: dict[tuple[str, type[Model]], tuple[str, list]] = {}


def insert(instance: Model) -> Model:
    """Insert a new row in one prepared statement: what ``save()`` does for a new row, without
    building the SQL anew each time, and without the ``pre_save``/``post_save`` signals. For
    append-only logs (audit log, incident timeline), which neither have nor want them, and for
    a new fault report, whose caller writes its audit entry itself."""
    model = type(instance)
    key = (connection.vendor, model)
    if key not in _INSERTS:
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
        pk = connection.ops.quote_name(str(model._meta.pk.column))  # type: ignore[union-attr]
        _INSERTS[key] = (
            f"INSERT INTO {table(model)} ({columns}) VALUES ({placeholders(len(fields))}) RETURNING {pk}",
            fields,
        )
    statement, fields = _INSERTS[key]
    values = [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(statement, values)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding, instance._state.db = False, connection.alias
    return instance
