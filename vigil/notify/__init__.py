"""Notifiers: where a run's news goes, with `--notify` (pure of pytest).

`spec.py` the `notify:` settings; `news.py` what each environment has to announce (from the
run's records and what was announced before, `notified.json`); `alertmanager.py`,
`slack.py`, `pagerduty.py`, `webhook.py` the senders; `send.py` sends them all, each bounded
by its own total time, and says how each went.
"""
