"""Performance: the load test the ``perf`` session runs (``python -m ops.perf``).

- :mod:`ops.perf.run` -- start or target a server, run locust headless, judge the thresholds
- :mod:`ops.perf.locustfile` -- the traffic
"""
