"""Value types of the trading domain: instruments, ticks, bars, intents, orders, fills, positions.

Money and quantities are `Decimal`; timestamps are integer nanoseconds. Market-data prices that
only feed features (ticks, bars) are floats: converting them per tick would cost the hot path
and they never reach the books without passing through `to_decimal_price`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import msgspec

ZERO = Decimal(0)


class TradingState(enum.Enum):
    """What the risk gate allows: everything; only orders that shrink a position; only cancels
    and the daemon's own flatten. Owned by the risk supervisor; `risk.initial_state` in the
    config names the one to start in."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class Side(enum.Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @staticmethod
    def of(signed_qty: Decimal) -> Side:
        return Side.BUY if signed_qty > 0 else Side.SELL


class OrderType(enum.Enum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(enum.Enum):
    """How long a limit order works: until cancelled; what fills at once, the rest expires;
    all at once or nothing; or only as a maker (the venue rejects one that would cross)."""

    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    POST_ONLY = "post_only"


class MarketKind(enum.Enum):
    SPOT = "spot"  # long-only: the position is base the daemon bought itself
    MARGIN = "margin"  # signed positions (paper account, swaps)


class UnknownInstrument(Exception):
    """A symbol the daemon is not configured to trade."""


class Instrument(msgspec.Struct, frozen=True):
    """What the venue allows for one symbol; quantities and prices snap to these grids."""

    symbol: str
    base: str
    quote: str
    price_increment: Decimal
    size_increment: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    kind: MarketKind = MarketKind.MARGIN
    trading: bool = True

    def floor_qty(self, qty: Decimal) -> Decimal:
        """Round a quantity down to the size grid: never trade more than asked."""
        return (qty / self.size_increment).to_integral_value(ROUND_FLOOR) * self.size_increment

    def round_price(self, price: Decimal, side: Side) -> Decimal:
        """Round a price to the tick grid in the direction that is adverse for us.

        A buy rounds up and a sell rounds down, so an estimate of what we pay is never rosy.
        """
        rounding = ROUND_CEILING if side is Side.BUY else ROUND_FLOOR
        steps = (price / self.price_increment).to_integral_value(rounding)
        return steps * self.price_increment

    def limit_price(self, price: Decimal, side: Side) -> Decimal:
        """Round a limit price to the grid so it never becomes more aggressive than asked."""
        rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
        return (price / self.price_increment).to_integral_value(rounding) * self.price_increment

    def on_size_grid(self, qty: Decimal) -> bool:
        return qty % self.size_increment == 0

    def on_price_grid(self, price: Decimal) -> bool:
        return price % self.price_increment == 0


# Recent conversions: an order's touch is converted by the gate and again by the paper broker,
# and prices repeat. `repr` and the parse cost ~0.6 us; a hit costs a dict lookup.
_DECIMAL_PRICES: dict[float, Decimal] = {}
_DECIMAL_PRICES_MAX = 1024


def to_decimal_price(price: float) -> Decimal:
    """A float market price as the shortest decimal that round-trips (no binary noise)."""
    dec = _DECIMAL_PRICES.get(price)
    if dec is None:
        if len(_DECIMAL_PRICES) >= _DECIMAL_PRICES_MAX:
            _DECIMAL_PRICES.clear()
        dec = _DECIMAL_PRICES[price] = Decimal(repr(price))
    return dec


class Tick(msgspec.Struct, frozen=True, array_like=True):
    """One trade print, for producers that collect trades one by one (see `TickBatch.of`).
    `trade_id` is the venue's id where it has one (the feed's dedup and gap detection)."""

    ts_ns: int
    price: float
    size: float
    trade_id: int = 0


class BookSnapshot(msgspec.Struct, frozen=True):
    """The top of one instrument's order book as the venue last reported it: (price, size)
    levels, best first on each side. Floats: a book feeds a strategy's decisions, not the
    accounts. Only strategies that ask for one (`Strategy.book_depth`) get books."""

    ts_ns: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


class TickBatch(msgspec.Struct, frozen=True):
    """Trades of one instrument that arrived together, as parallel columns, plus the latest top of
    book (`bid`/`ask`, as of the last trade).

    Columns, not a list of `Tick`s: the signal path walks them as sequences of ints and floats
    and aggregates whole runs of a bar with C builtins (`bisect`, `max`, `min`, `sum`). Feeds
    make lists; a replay makes flat `array`s straight from its numpy columns. `ts_ns[i]`,
    `price[i]`, `size[i]` are trade `i`; `ts_ns` is non-decreasing (producers sort), and the
    three columns have the same length.
    Batching is what keeps the hot path cheap: one queue hop per batch, not per tick.
    """

    symbol: str
    ts_ns: Sequence[int]
    price: Sequence[float]
    size: Sequence[float]
    bid: float
    ask: float
    recv_ns: int
    gap_before: bool = False  # the source knows data is missing before these ticks
    book: BookSnapshot | None = None  # the latest order book, for strategies that ask for it

    def __post_init__(self) -> None:
        if not len(self.ts_ns) == len(self.price) == len(self.size):
            raise ValueError("TickBatch columns must have the same length")

    @classmethod
    def of(cls, symbol: str, ticks: Iterable[Tick], bid: float, ask: float, recv_ns: int,
           gap_before: bool = False, book: BookSnapshot | None = None) -> TickBatch:
        """A batch from trades collected one by one (a websocket feed, a test)."""
        rows = list(ticks)
        return cls(symbol, [t.ts_ns for t in rows], [t.price for t in rows],
                   [t.size for t in rows], bid, ask, recv_ns, gap_before, book)

    def ticks(self) -> list[Tick]:
        """The trades as rows (tests, debugging); the hot path reads the columns."""
        return [Tick(t, p, s) for t, p, s in zip(self.ts_ns, self.price, self.size, strict=True)]


class Bar(msgspec.Struct, frozen=True):
    symbol: str
    start_ns: int
    end_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int
    gap: bool = False  # built across data the source reported missing, or with no trades


class OrderIntent(msgspec.Struct, frozen=True):
    """What a strategy wants. It becomes an order only after the risk gate approves it."""

    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    reduce_only: bool = False
    tag: str = ""  # a short machine-readable reason, e.g. "open" / "close"
    bar_close_ns: int = 0  # the end of the bar that caused it (data time)
    time_in_force: TimeInForce = TimeInForce.GTC  # limit orders only


class Cancel(msgspec.Struct, frozen=True):
    """Cancel one of the strategy's own working orders (never refused, never anyone else's)."""

    client_order_id: str


class CancelAll(msgspec.Struct, frozen=True):
    """Cancel every working order the strategy has on `symbol`."""

    symbol: str


class Replace(msgspec.Struct, frozen=True):
    """Cancel `client_order_id`; once the venue confirms it, send `new` through the gate. If the
    old order fills first, `new` is not sent (the strategy hears of the fill)."""

    client_order_id: str
    new: OrderIntent


class Algo(enum.Enum):
    """How a parent order is worked: evenly over time, or as a share of traded volume."""

    TWAP = "twap"
    POV = "pov"


class ParentOrder(msgspec.Struct, frozen=True):
    """Work `qty` by an execution algorithm instead of one order (`daemon.execution.algos`):
    each child is a normal order through the risk gate. TWAP: `slices` children over
    `duration_s`, each at a random time within its slice (`seed`: the same seed, the same
    times); a limit at the touch with `limit_at_touch`, else a market order. POV: children as
    traded volume comes, `rate` of it, until `qty` or `duration_s`."""

    symbol: str
    side: Side
    qty: Decimal
    algo: Algo = Algo.TWAP
    duration_s: float = 300.0
    slices: int = 10
    limit_at_touch: bool = False
    rate: Decimal = Decimal("0.1")
    seed: int = 0
    tag: str = ""


Action = OrderIntent | Cancel | CancelAll | Replace | ParentOrder


class Decision(msgspec.Struct, frozen=True):
    """One look of the strategy that made it act: its intents, routed together, in order; or,
    when it did more than open orders, its `actions`, sequenced by the router (`intents` empty).
    """

    intents: list[OrderIntent]
    # The clock's monotonic time when the daemon closed the bar behind it (0: no bar did). The
    # bar-to-order latency histogram measures from here to the hand-over to the broker.
    closed_mono_ns: int = 0
    actions: list[Action] | None = None

    @staticmethod
    def of(actions: Sequence[Action], closed_mono_ns: int = 0) -> Decision:
        """New orders only (the common case): routed together; anything else: in order."""
        for a in actions:
            if type(a) is not OrderIntent:
                return Decision([], closed_mono_ns, list(actions))
        return Decision(list(actions), closed_mono_ns)  # type: ignore[arg-type]


class OrderState(enum.Enum):
    PENDING_NEW = "pending_new"  # recorded, request not yet answered
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_open(self) -> bool:
        return self in _OPEN_STATES


_OPEN_STATES = frozenset(
    {OrderState.PENDING_NEW, OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED,
     OrderState.PENDING_CANCEL}
)

# Which state may follow which. Fills may still arrive while a cancel is pending, and a venue may
# report a fill before its ack, so PENDING_NEW can go straight to (partially) filled.
_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.PENDING_NEW: frozenset(
        {OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED, OrderState.FILLED,
         OrderState.REJECTED, OrderState.CANCELLED, OrderState.PENDING_CANCEL}
    ),
    OrderState.ACCEPTED: frozenset(
        {OrderState.PARTIALLY_FILLED, OrderState.FILLED, OrderState.PENDING_CANCEL,
         OrderState.CANCELLED}
    ),
    OrderState.PARTIALLY_FILLED: frozenset(
        {OrderState.PARTIALLY_FILLED, OrderState.FILLED, OrderState.PENDING_CANCEL,
         OrderState.CANCELLED}
    ),
    # A cancel may be asked for an order whose create never answered; the venue may then
    # say the create failed after all.
    OrderState.PENDING_CANCEL: frozenset(
        {OrderState.PARTIALLY_FILLED, OrderState.FILLED, OrderState.CANCELLED,
         OrderState.ACCEPTED, OrderState.REJECTED}
    ),
    OrderState.FILLED: frozenset(),
    OrderState.CANCELLED: frozenset(),
    OrderState.REJECTED: frozenset(),
}


class InvalidTransition(Exception):
    """An order was asked to move to a state its current state cannot reach."""


class Order(msgspec.Struct):
    """A working or finished order. Only the inventory manager mutates it."""

    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    reduce_only: bool
    created_ns: int
    state: OrderState = OrderState.PENDING_NEW
    filled_qty: Decimal = ZERO
    venue_order_id: str = ""
    tag: str = ""
    time_in_force: TimeInForce = TimeInForce.GTC

    @property
    def remaining_qty(self) -> Decimal:
        return self.qty - self.filled_qty

    def transition(self, new: OrderState) -> None:
        if new not in _TRANSITIONS[self.state]:
            raise InvalidTransition(
                f"order {self.client_order_id}: {self.state.value} -> {new.value}"
            )
        self.state = new


class Fill(msgspec.Struct, frozen=True):
    """One execution. `trade_id` is the venue's and makes applying a fill idempotent."""

    client_order_id: str
    trade_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee_quote: Decimal  # the whole fee valued in quote at the fill price
    ts_ns: int
    # The part of the fee the venue took in base (Binance spot buys): the position grows by
    # qty - fee_base, and selling it back must not try to sell what was never received.
    fee_base: Decimal = ZERO

    @property
    def signed_qty(self) -> Decimal:
        return self.qty if self.side is Side.BUY else -self.qty


class PositionView(msgspec.Struct, frozen=True):
    """A snapshot of one position as the rest of the daemon may see it."""

    symbol: str
    qty: Decimal  # signed base quantity
    avg_price: Decimal
    mark: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
