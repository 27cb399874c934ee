"""Pytest plugin: a private Mosquitto with dynamic security for integration tests.

(Filled in by the broker work; imported by tests/conftest.py through pytest_plugins.)
"""
