"""Load the Vigil pytest plugin for the checks and the project's own tests."""

pytest_plugins = ["vigil.plugin"]
