"""Helpers shared by the integration and acceptance suites: a real receiver, databases, the daemon."""
