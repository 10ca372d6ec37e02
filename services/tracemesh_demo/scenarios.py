"""The demo's scenarios: deliberate flaws a request can ask for, carried as W3C baggage.

A caller sends `baggage: tracemesh.scenario=slow-query`; the gateway keeps the entry only when scenarios are
enabled and the name is one of these (baggage is untrusted input, see gateway.py), and the demo's
repositories read it from the propagated context: `current_scenario()`, None when the request asked for none.

Because the key starts with `tracemesh.`, every span of the request also gets a `tracemesh.scenario`
attribute (the BaggageSpanProcessor of tracemesh_common.tracing), so Jaeger can search for the traces of one
scenario.
"""

from __future__ import annotations

from enum import StrEnum

from opentelemetry import baggage
from opentelemetry.context import Context

SCENARIO_KEY = "tracemesh.scenario"


class Scenario(StrEnum):
    # inventory's stock lookup makes the database walk hundreds of thousands of rows: one long DB span.
    SLOW_QUERY = "slow-query"
    # Listing orders or products reads the ids, then each row with a query of its own: many sibling DB spans.
    N_PLUS_ONE = "n-plus-one"
    # inventory stalls on the first call of each trace; orders times out, backs off and retries.
    FLAKY_INVENTORY = "flaky-inventory"
    # Reservations queue for one process-wide lock: concurrent traces show their waits side by side.
    CONTENTION = "contention"


# docs-region: scenario-from-baggage
def parse_scenario(value: object) -> Scenario | None:
    """The scenario named by `value`, or None for anything else (absent, unknown, not a string)."""
    if not isinstance(value, str):
        return None
    try:
        return Scenario(value)
    except ValueError:
        return None


def current_scenario(context: Context | None = None) -> Scenario | None:
    """The scenario the current request carries in its baggage, if it is a known one."""
    return parse_scenario(baggage.get_baggage(SCENARIO_KEY, context))
    # docs-endregion: scenario-from-baggage
