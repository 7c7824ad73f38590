"""Monitoring: ``invoke monitor`` -- checks as code, confirmed inside the run, alerts a team
can live with -- and the same thresholds handed to Prometheus and Alertmanager.

- :mod:`ops.monitor.settings` -- the ``[monitor]`` section: every threshold, defaults once
- :mod:`ops.monitor.results` -- a finding: status, reason (a fixed set), summary, figures
- :mod:`ops.monitor.checks` -- the checks (availability, journey, latency, errors, version,
  postgres, redis, backups, tls, watchdog) and their registry
- :mod:`ops.monitor.state` -- what is remembered between runs, in a file or in storage
- :mod:`ops.monitor.alerts` -- the alert lifecycle: new, worse, reminder, recovered
- :mod:`ops.monitor.notifiers` -- Slack, e-mail, GitHub issues
- :mod:`ops.monitor.run` -- one run: status, plan, checks, alerts, notifications, report
- :mod:`ops.monitor.rules` -- the Prometheus alerting rules, generated from the settings
"""
