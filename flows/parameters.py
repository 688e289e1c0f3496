"""Flow parameter types as the Prefect UI's Custom-run form shows them.

An optional parameter typed ``date | None`` becomes a JSON-schema ``anyOf``
with ``null``, which the form shows as a type switch set to "None": a person
must click before any input appears.  These types keep ``None`` in Python
(a parameter left empty) but describe only the real input to the form: a date
picker, a number, a text field, a list.  ``form_schema`` then finishes each
deployment's parameter schema when newsflow registers it (``newsflow serve``,
``newsflow deployments --apply``): the ``sources`` list becomes a choice of the
names in the sources file, and an empty field is accepted as "not given".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from pydantic import WithJsonSchema

#: A day, or nothing (the form: a date picker left empty).
OptionalDay = Annotated[date | None, WithJsonSchema({"type": "string", "format": "date"})]
#: A positive count, or nothing (the form: a number field left empty).
OptionalCount = Annotated[int | None, WithJsonSchema({"type": "integer", "minimum": 1})]
#: A path or name, or nothing (the form: a text field left empty).
OptionalText = Annotated[str | None, WithJsonSchema({"type": "string"})]
#: Names or URLs; empty by default, ``()`` (the form: a list editor that opens empty).
Names = Sequence[str]


def form_schema(properties: dict[str, Any], source_names: list[str]) -> dict[str, Any]:
    """A flow's parameter schema properties as the Custom-run form should show them.

    The ``sources`` list becomes a choice of ``source_names``.  A ``"default": null`` beside a plain type (the
    types above) goes: with it, the server's parameter validation refuses a field left empty ("None is not of
    type 'integer'"); without it, Prefect accepts null for a property that is not required.
    """
    shown = {}
    for name, schema in properties.items():
        schema = dict(schema)
        if schema.get("default", ...) is None and schema.get("type") not in (None, "null"):
            del schema["default"]
        if name == "sources" and schema.get("type") == "array":
            schema["items"] = {"type": "string", "enum": list(source_names)}
            schema["uniqueItems"] = True
        shown[name] = schema
    return shown
