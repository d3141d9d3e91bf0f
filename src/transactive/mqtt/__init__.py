"""The MQTT interface: :class:`Gateway` (topics in ``docs/mqtt.md``)."""

from __future__ import annotations

from transactive.mqtt.gateway import PREFIX, Gateway, parse_mqtt_url

__all__ = ["PREFIX", "Gateway", "parse_mqtt_url"]
