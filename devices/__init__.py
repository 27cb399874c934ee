"""Telemed home-device side: MQTT client with offline buffer, simulator, device profiles."""
