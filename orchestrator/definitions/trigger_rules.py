"""Member types of EVENT triggers that are adhere's extensions, checked as they load."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from orchestrator import errors


def _event_pattern(value: Any) -> Any:
    """EventBridge's pattern as a mapping (JSON or YAML) or as JSON text, checked by compiling it."""
    from orchestrator import eventbridge

    if value is None:
        return None
    try:
        return dict(eventbridge.compile(value).source)
    except errors.InvalidInputException as exc:
        raise ValueError(str(exc).removeprefix("EventPattern: ").removeprefix("EventPattern")) from None


EventPattern = Annotated[dict[str, Any], BeforeValidator(_event_pattern), WithJsonSchema(
    {"anyOf": [{"type": "object"}, {"type": "string"}],
     "description": "EventBridge event pattern: which events count for this EVENT trigger"})]
