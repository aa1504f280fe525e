"""Event contracts: versioned JSON schemas (schemas/*.vN.json) and the one validation that the
producers, the streaming job and the batch layer all use."""

from retail_platform.events.contracts import (
    EVENT_TYPES,
    EventType,
    Rejection,
    event_type_for_topic,
    parse_event,
    validate,
)

__all__ = ["EVENT_TYPES", "EventType", "Rejection", "event_type_for_topic", "parse_event", "validate"]
