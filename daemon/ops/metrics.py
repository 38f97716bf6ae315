"""Every Prometheus metric the daemon exports, defined once, in base units.

Label values are bounded sets (reason codes, instrument symbols from config, outcome names):
never an order id or free text, so the series count cannot grow with trading. Known label values
are created up front so dashboards and alerts see zeros instead of missing series.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from daemon.ops.tally import Tally, TallyHistogram

VERSION = "0.1.0"
CONTENT_TYPE = CONTENT_TYPE_LATEST
ORDER_OUTCOMES = ("submitted", "filled", "cancelled", "rejected", "denied")
DATA_PATHS = ("sim", "replay", "websocket", "rest")
STATE_VALUES = {"active": 0, "reducing": 1, "halted": 2}
# Label values known up front, created at zero so alerts see a series before the first event.
MD_KINDS = ("trade", "quote", "book")
MD_DROP_REASONS = ("malformed", "bad_price", "bad_size", "duplicate", "out_of_order",
                   "price_jump", "bad_quote", "bad_book")
REJECTION_REASONS = ("insufficient_funds", "invalid_order", "rate_limited", "rejected",
                     "lost_in_transit", "venue_rejected", "no_market", "unknown")
EXCHANGE_ERRORS = ("RequestTimeout", "ExchangeNotAvailable", "NetworkError", "DDoSProtection",
                   "RateLimitExceeded", "InsufficientFunds", "InvalidOrder", "BadRequest",
                   "AuthenticationError", "OperationFailed", "ExchangeError",
                   # not ccxt classes: trades the broker could not book as they came, and
                   # answers that were not what was asked for (ccxt's parser raised, no order id)
                   "MalformedFill", "FeeInOtherCurrency", "MalformedReply")
NOTIFY_SINKS = ("webhook", "telegram")
ALGOS = ("twap", "pov")
ALGO_OUTCOMES = ("complete", "incomplete", "cancelled")
NOTIFY_DROP_REASONS = ("queue_full", "send_failed")

# Sub-millisecond buckets: the bar-close-to-order path is meant to take tens of microseconds.
_FAST_BUCKETS = (10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 25e-3, 0.1, 1.0)
_NET_BUCKETS = (1e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, instruments: list[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        g = self._gauge
        self.build_info = g("build_info", "Build information (always 1)", ["version", "python"])
        self.build_info.labels(VERSION, platform.python_version()).set(1)
        self.start_time = g("start_time_seconds", "When this process started (unix seconds)")
        self.start_time.set(time.time())
        self.equity = g("equity", "Strategy equity: cash plus unrealized PnL (quote)")
        self.cash = g("cash", "Cash balance: capital plus realized PnL minus fees (quote)")
        self.realized_pnl = g("realized_pnl", "Realized PnL since start (quote)")
        self.unrealized_pnl = g("unrealized_pnl", "Unrealized PnL at the mark (quote)")
        self.daily_pnl = g("daily_pnl", "PnL since the UTC day began (quote)")
        self.equity_peak = g("equity_peak", "Highest equity seen (quote)")
        self.drawdown = g("drawdown_ratio", "Drawdown from the equity peak (0..1)")
        self.position = g("position", "Signed position (base units)", ["instrument"])
        self.position_notional = g("position_notional", "Position value at the mark (quote)",
                                   ["instrument"])
        self.working_orders = g("working_orders", "Open orders", ["instrument"])
        self.trading_state = g("trading_state", "0 active, 1 reducing, 2 halted")
        self.ready = g("ready", "1 when ready to trade")
        self.data_age = g("market_data_age_seconds", "Age of the latest market data",
                          ["instrument"])
        self.data_path = g("market_data_path", "1 for the market data path in use", ["path"])
        self.loop_lag = g("event_loop_lag_seconds", "Event loop scheduling lag")
        self.last_reconciliation = g("last_reconciliation_timestamp_seconds",
                                     "When reconciliation last succeeded (unix seconds)")
        self.risk_limit = g("risk_limit", "Configured risk limits", ["limit"])
        self.unresolved_orders = g("unresolved_orders", "Orders whose create had no clear "
                                   "outcome, still looked up by client id")
        self.http_connections = g("http_connections", "Open connections per HTTP listener",
                                  ["listener"])
        self.open_fds = g("open_fds", "File descriptors this process has open")
        self.max_fds = g("max_fds", "This process's file descriptor limit (RLIMIT_NOFILE, soft)")
        self.mark_price = g("mark_price", "Swaps: the venue's mark price (quote)",
                            ["instrument"])
        self.liquidation_price = g("liquidation_price", "Swaps: the liquidation price the "
                                   "venue reports for the position (0: none)", ["instrument"])
        self.liquidation_distance = g("liquidation_distance_ratio", "Swaps: how far the mark is "
                                      "from the liquidation price, as a fraction of the mark "
                                      "(1: no position)", ["instrument"])
        self.margin_used = g("margin_used", "Swaps: initial margin the position holds on the "
                             "venue (quote)", ["instrument"])
        self.journal_lost = g("journal_lost", "1 once the journal file was deleted or replaced, "
                              "or a journal write failed: halted, no trading until a restart")

        self.algo_active = g("algo_parents_active", "Parent orders being worked", ["algo"])
        self.algo_progress = g("algo_progress_ratio", "Filled over target, averaged over the "
                               "parents being worked (0: none)", ["algo"])
        self.algo_shortfall = g("algo_shortfall_bps", "Implementation shortfall of the last "
                                "parent that ended: its average fill against the mid when it "
                                "started, in bps, positive when it cost", ["algo"])

        # What every order and fill bumps: tallies, not prometheus_client's locked metrics
        # (daemon.ops.tally). The same series; read through the registry like the others.
        hot = TallyCollector()
        self.registry.register(hot)
        self.order_outcomes: dict[str, Tally] = hot.labelled(
            "tradingd_orders", "Orders by outcome", "outcome", ORDER_OUTCOMES)
        self.fills = hot.counter("tradingd_fills", "Fills booked")
        self.fees = hot.counter("tradingd_fees", "Fees paid (quote)")
        # A counter cannot go down: maker rebates (negative fees) are counted on their own.
        self.fee_rebates = hot.counter("tradingd_fee_rebates", "Fee rebates received (quote)")
        self.bar_to_order: TallyHistogram = hot.histogram(
            "tradingd_bar_to_order_latency_seconds",
            "Bar closed (seen by the daemon) to order handed to the broker", _FAST_BUCKETS)

        c = self._counter
        self.exchange_rejections = c("exchange_rejections", "Orders rejected by the venue",
                                     ["reason"])
        self.risk_denials = c("risk_denials", "Intents denied by the risk gate", ["reason"])
        # Funding is signed: what swaps paid and what they received are two counters.
        self.funding_paid = c("funding_paid", "Swaps: funding paid (quote)")
        self.funding_received = c("funding_received", "Swaps: funding received (quote)")
        self.md_messages = c("market_data_messages", "Market data messages", ["kind"])
        self.md_gaps = c("market_data_gaps", "Gaps detected in market data")
        self.md_dropped = c("market_data_dropped", "Bad market data records dropped", ["reason"])
        self.ws_reconnects = c("ws_reconnects", "Websocket reconnects")
        self.rest_fallbacks = c("rest_fallbacks", "Switches to REST polling")
        self.exchange_errors = c("exchange_errors", "Exchange errors by ccxt class", ["error"])
        self.breaker_trips = c("circuit_breaker_trips", "Circuit breaker trips", ["breaker"])
        self.reconciliation_drift = c("reconciliation_drift", "Reconciliation drifts found")
        self.http_dropped = c("http_connections_dropped", "HTTP connections closed by the "
                              "daemon: slow or oversized request head, or over the limit",
                              ["listener", "reason"])
        self.control_unauthorized = c("control_unauthorized", "Control API requests refused "
                                      "for a missing or wrong token")
        self.ambiguous_orders = c("ambiguous_orders", "Orders whose create had no clear outcome "
                                  "(timeout, 5xx, an unreadable answer): looked up, never resent")
        # notify/: messages per kind of sink (every webhook counts as `webhook`; the log names
        # which one); dropped by reason: queue_full (only informational ones), send_failed.
        self.algo_children = c("algo_child_orders", "Child orders an execution algorithm "
                               "sent through the risk gate (approved or denied)", ["algo"])
        self.algo_ended = c("algo_parents_ended", "Parent orders ended, by outcome "
                            "(incomplete: its schedule, a halt or a flatten ended it short)",
                            ["algo", "outcome"])
        self.notify_sent = c("notify_sent", "Notifications delivered", ["sink"])
        self.notify_failed = c("notify_failed", "Notification sends that failed after their "
                               "retries", ["sink"])
        self.notify_dropped = c("notify_dropped", "Notifications dropped", ["sink", "reason"])
        self.notify_commands_ignored = c("notify_commands_ignored", "Chat commands ignored: "
                                         "from a chat or user not allowed")

        h = self._histogram
        self.ack_latency = h("order_ack_latency_seconds", "Order sent to venue acknowledgement",
                             _NET_BUCKETS)
        self.md_lag = h("market_data_lag_seconds", "Exchange timestamp to receipt", _NET_BUCKETS)

        for counter, values in ((self.md_messages, MD_KINDS), (self.md_dropped, MD_DROP_REASONS),
                                (self.exchange_rejections, REJECTION_REASONS),
                                (self.exchange_errors, EXCHANGE_ERRORS)):
            for value in values:
                counter.labels(value)
        for sink in NOTIFY_SINKS:
            self.notify_sent.labels(sink)
            self.notify_failed.labels(sink)
            for reason in NOTIFY_DROP_REASONS:
                self.notify_dropped.labels(sink, reason)
        for algo in ALGOS:
            for fam in (self.algo_active, self.algo_progress, self.algo_shortfall):
                fam.labels(algo).set(0)
            self.algo_children.labels(algo)
            for outcome in ALGO_OUTCOMES:
                self.algo_ended.labels(algo, outcome)
        for path in DATA_PATHS:
            self.data_path.labels(path).set(0)
        for symbol in instruments:
            self.position.labels(symbol).set(0)
            self.position_notional.labels(symbol).set(0)
            self.working_orders.labels(symbol).set(0)
            self.data_age.labels(symbol).set(0)
            if ":" in symbol:  # a swap (ccxt's unified symbol): its margin series from the start
                for gauge in (self.mark_price, self.liquidation_price, self.margin_used):
                    gauge.labels(symbol).set(0)
                self.liquidation_distance.labels(symbol).set(1)

    def _gauge(self, name: str, doc: str, labels: list[str] | None = None) -> Gauge:
        return Gauge(f"tradingd_{name}", doc, labels or [], registry=self.registry)

    def _counter(self, name: str, doc: str, labels: list[str] | None = None) -> Counter:
        return Counter(f"tradingd_{name}", doc, labels or [], registry=self.registry)

    def _histogram(self, name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(f"tradingd_{name}", doc, buckets=buckets, registry=self.registry)

    def set_state(self, state: str) -> None:
        self.trading_state.set(STATE_VALUES[state])

    def set_data_path(self, live: str) -> None:
        for path in DATA_PATHS:
            self.data_path.labels(path).set(1 if path == live else 0)

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


class TallyCollector(Collector):
    """Exports tallies as counter and histogram families."""

    def __init__(self) -> None:
        self._counters: list[tuple[str, str, list[str], dict[tuple[str, ...], Tally]]] = []
        self._histograms: list[tuple[str, str, TallyHistogram]] = []

    def counter(self, name: str, doc: str) -> Tally:
        tally = Tally()
        self._counters.append((name, doc, [], {(): tally}))
        return tally

    def labelled(self, name: str, doc: str, label: str,
                 values: Sequence[str]) -> dict[str, Tally]:
        """A counter with one label, its values known up front."""
        children = {value: Tally() for value in values}
        self._counters.append((name, doc, [label], {(v,): t for v, t in children.items()}))
        return children

    def histogram(self, name: str, doc: str, bounds: Sequence[float]) -> TallyHistogram:
        histogram = TallyHistogram(bounds)
        self._histograms.append((name, doc, histogram))
        return histogram

    def collect(self) -> Iterator[Metric]:
        for name, doc, labels, children in self._counters:
            counter = CounterMetricFamily(name, doc, labels=labels)
            for values, tally in children.items():
                counter.add_metric(list(values), tally.value, created=tally.created)
            yield counter
        for name, doc, histogram in self._histograms:
            family = HistogramMetricFamily(name, doc)
            bounds = [*map(floatToGoString, histogram.bounds), "+Inf"]
            family.add_metric([], [(le, float(n)) for le, n in zip(
                bounds, histogram.cumulative(), strict=True)], histogram.total)
            family.add_sample(name + "_created", {}, histogram.created)
            yield family

    def describe(self) -> Iterator[Metric]:
        return self.collect()
