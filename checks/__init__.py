"""The built-in checks, installed as `vigil.checks`; a team repository collects them through
one-line modules (`from vigil.checks.test_http import *`, written by `vigil init`)."""
